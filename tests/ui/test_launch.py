"""How `serve` and `modelyard ui` start the UI: the Streamlit command line, the API's URL, port checks."""
from __future__ import annotations

import socket

from modelyard.ui import launch


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_command_runs_the_packaged_app_headless_without_usage_statistics():
    argv = launch.command(host="0.0.0.0", port=9001)

    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4] == str(launch.APP) and launch.APP.is_file()
    assert option(argv, "--server.address") == "0.0.0.0" and option(argv, "--server.port") == "9001"
    assert option(argv, "--server.headless") == "true"
    assert option(argv, "--browser.gatherUsageStats") == "false"
    assert option(argv, "--client.showErrorDetails") == "type"  # tracebacks go to the log, not the page
    assert launch.environment("http://api:8000")["BACKEND_URL"] == "http://api:8000"


def test_a_ui_beside_an_api_on_every_address_reaches_it_over_loopback():
    assert launch.backend_for("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert launch.backend_for("::", 8000) == "http://[::1]:8000"
    assert launch.backend_for("10.1.2.3", 8080) == "http://10.1.2.3:8080"
    assert launch.backend_for("fe80::1", 8080) == "http://[fe80::1]:8080"


def test_a_port_in_use_is_not_free():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        assert not launch.port_free("127.0.0.1", taken)
    assert launch.port_free("127.0.0.1", taken)
