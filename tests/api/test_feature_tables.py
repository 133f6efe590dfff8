"""Feature tables: upload with entity keys, describe, list, replace (a new version), delete, look up."""
import pytest

from tests.api.test_model_registry import feature_table, upload
from tests.support.registry_models import customers, regressor, skops_bytes, to_csv, to_parquet


@pytest.fixture(scope="module")
def frame():
    return customers(40).drop(columns=["amount"])


def lookup(client, account, table="customers", **keys):
    return client.get(f"/api/feature-tables/{table}/rows", params=keys, headers=account.headers)


def test_a_csv_feature_table_describes_its_keys_columns_and_rows(client, accounts, frame):
    body = feature_table(client, accounts["user"], frame)
    assert body["key_columns"] == ["customer_id", "purchase_date_id"]
    assert body["rows"] == 40 and body["version"] == 1
    types = {c["name"]: c["type"] for c in body["columns"]}
    assert types == {"customer_id": "string", "purchase_date_id": "string", "spend": "number", "visits": "integer",
                     "tenure": "number"}
    assert [v["number"] for v in body["versions"]] == [1]


def test_a_row_is_found_by_its_entity_keys(client, accounts, frame):
    user = accounts["user"]
    feature_table(client, user, frame)
    response = lookup(client, user, customer_id="4", purchase_date_id="2024-01-04")
    assert response.status_code == 200, response.text
    expected = frame[frame.customer_id == 4].iloc[0]
    assert response.json()["values"]["spend"] == pytest.approx(expected.spend)
    assert response.json()["values"]["customer_id"] == "4"


def test_a_parquet_feature_table_keys_integers_and_dates_canonically(client, accounts, frame):
    user = accounts["user"]
    typed = frame.assign(purchase_date_id=frame.purchase_date_id.astype("datetime64[ns]"))
    response = client.post("/api/feature-tables", params={"name": "typed", "key_columns": "customer_id,purchase_date_id"},
                           files={"file": ("typed.parquet", to_parquet(typed), "application/octet-stream")},
                           headers=user.headers)
    assert response.status_code == 201, response.text
    assert response.json()["versions"][0]["format"] == "parquet"
    assert lookup(client, user, "typed", customer_id=" 9 ", purchase_date_id="2024-01-09").status_code == 200


def test_replacing_a_table_makes_a_new_version_that_lookups_read(client, accounts, frame):
    user = accounts["user"]
    feature_table(client, user, frame)
    changed = frame.assign(spend=frame.spend + 1000)
    response = client.put("/api/feature-tables/customers", files={"file": ("v2.csv", to_csv(changed), "text/csv")},
                          headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2 and [v["number"] for v in response.json()["versions"]] == [1, 2]
    row = lookup(client, user, customer_id="1", purchase_date_id="2024-01-01").json()["values"]
    assert row["spend"] == pytest.approx(changed.spend[0])


def test_a_failed_replace_keeps_the_current_version(client, accounts, frame):
    user = accounts["user"]
    feature_table(client, user, frame)
    duplicated = to_csv(frame.iloc[[0, 0]])
    response = client.put("/api/feature-tables/customers", files={"file": ("bad.csv", duplicated, "text/csv")},
                          headers=user.headers)
    assert response.status_code == 422 and "duplicate" in response.json()["message"]
    described = client.get("/api/feature-tables/customers", headers=user.headers).json()
    assert described["version"] == 1 and described["rows"] == 40
    assert lookup(client, user, customer_id="1", purchase_date_id="2024-01-01").status_code == 200


@pytest.mark.parametrize("case", ["missing key column", "empty key", "not a table", "bad name"])
def test_bad_feature_tables_are_refused_and_nothing_is_created(client, accounts, frame, case):
    user = accounts["user"]
    data, keys, name = to_csv(frame), "customer_id,purchase_date_id", "customers"
    if case == "missing key column":
        keys = "customer_id,store_id"
    elif case == "empty key":
        data = to_csv(frame.assign(customer_id=[None] + list(frame.customer_id[1:])))
    elif case == "not a table":
        data = b"\x89PNG\r\n\x1a\n\x00\x00"
    else:
        name = "../etc"
    response = client.post("/api/feature-tables", params={"name": name, "key_columns": keys},
                           files={"file": ("t.csv", data, "text/csv")}, headers=user.headers)
    assert response.status_code in (400, 422), response.text
    assert client.get("/api/feature-tables", headers=user.headers).json()["total"] == 0


def test_a_second_table_with_the_same_name_is_409(client, accounts, frame):
    feature_table(client, accounts["user"], frame)
    feature_table(client, accounts["user"], frame, expect=409)


def test_other_users_tables_are_not_found_and_not_listed_but_admins_see_them(client, accounts, frame):
    feature_table(client, accounts["user"], frame)
    other = accounts["other"]
    assert client.get("/api/feature-tables/customers", headers=other.headers).status_code == 404
    assert client.get("/api/feature-tables", headers=other.headers).json()["total"] == 0
    assert client.delete("/api/feature-tables/customers", headers=other.headers).status_code == 404
    assert lookup(client, other, customer_id="1", purchase_date_id="2024-01-01").status_code == 404
    assert client.get("/api/feature-tables", headers=accounts["admin"].headers).json()["total"] == 1


def test_deleting_a_table_removes_it_and_its_models_then_answer_409(client, accounts, frame):
    user = accounts["user"]
    feature_table(client, user, frame.assign(amount=0))
    upload(client, user, skops_bytes(regressor()), feature_table="customers")
    assert client.delete("/api/feature-tables/customers", headers=user.headers).status_code == 204
    assert client.get("/api/feature-tables/customers", headers=user.headers).status_code == 404
    response = client.get("/inference", params={"model_name": "test_model", "model_version": "1", "customer_id": 1,
                                                "purchase_date_id": "2024-01-01"}, headers=user.headers)
    assert response.status_code == 409 and "deleted" in response.json()["message"]
