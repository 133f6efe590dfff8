"""Per-process set-up of `modelyard serve` and `modelyard worker` (modelyard/process.py)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from modelyard import process


def test_malloc_is_limited_for_this_process_and_its_children(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    process.limit_malloc()
    assert process.os.environ["MALLOC_ARENA_MAX"] == process.MALLOC_ARENAS == "2"
    assert process.os.environ["MALLOC_MMAP_THRESHOLD_"] == process.MALLOC_MMAP_THRESHOLD == str(4 * 2**20)


def test_an_operators_own_malloc_settings_are_kept(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    process.limit_malloc()
    assert process.os.environ["MALLOC_ARENA_MAX"] == "4"
    assert process.os.environ["MALLOC_MMAP_THRESHOLD_"] == "131072"


# Allocates and frees an argon2-sized block (19 MiB, filled) a few times, as logins do, then prints how much
# RSS the process kept from it: with glibc's defaults, or after limit_malloc().
_KEPT_AFTER_FREEING = """
import ctypes, sys
import psutil
from modelyard import process
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
SIZE = 19 * 2**20

def kept():
    before = psutil.Process().memory_info().rss
    for _ in range(3):
        block = libc.malloc(SIZE)
        ctypes.memset(block, 1, SIZE)
        libc.free(block)
    return (psutil.Process().memory_info().rss - before) / 2**20

if sys.argv[1] == "limited":
    process.limit_malloc()
print(f"{kept():.1f}")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_limited_malloc_gives_a_freed_login_sized_block_back():
    env = {k: v for k, v in process.os.environ.items() if not k.startswith("MALLOC_")}

    def kept(mode: str) -> float:
        return float(subprocess.run([sys.executable, "-c", _KEPT_AFTER_FREEING, mode], env=env, capture_output=True,
                                    text=True, timeout=60, check=True).stdout)

    default = kept("default")
    assert default > 15, f"glibc's defaults gave the freed block back ({default} MiB kept): this test shows nothing"
    limited = kept("limited")
    assert limited < 2, f"limit_malloc() kept {limited} MiB of a freed 19 MiB block (defaults: {default} MiB)"
