"""Operations endpoints: the codec endpoint the Temporal UI calls, metrics without ids."""

from __future__ import annotations

import base64
import json

from tests.api.support import ADMIN, SERVICE, Api, assert_problem, bearer

PLAIN = {
    "payloads": [
        {
            "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
            "data": base64.b64encode(b'{"body": "private"}').decode(),
        }
    ]
}


async def test_codec_endpoint_encrypts_and_decrypts_for_an_admin(api: Api) -> None:
    admin = bearer(api.tokens.mint(ADMIN, sub="operator"))
    sealed = await api.http.post("/codec/encode", json=PLAIN, headers=admin)
    assert sealed.status_code == 200, sealed.text
    assert "private" not in base64.b64decode(sealed.json()["payloads"][0]["data"]).decode("latin-1")
    opened = await api.http.post("/codec/decode", content=sealed.content, headers=admin)
    assert opened.status_code == 200, opened.text
    assert json.loads(opened.text) == PLAIN


async def test_codec_endpoint_needs_an_admin_token(api: Api) -> None:
    assert_problem(await api.http.post("/codec/decode", json=PLAIN), 401)
    service = bearer(api.tokens.mint(SERVICE))
    assert_problem(await api.http.post("/codec/decode", json=PLAIN, headers=service), 403)


async def test_codec_endpoint_allows_the_temporal_ui_origin_only(api: Api) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    ui = api.settings.temporal_ui_origin
    allowed = await api.http.options("/codec/decode", headers={"Origin": ui, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ui
    other = await api.http.options(
        "/codec/decode", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in other.headers


async def test_metrics_name_route_templates_never_ids(api: Api) -> None:
    service = bearer(api.tokens.mint(SERVICE))
    await api.http.get("/v1/patients/01018012345/consultations", headers=service)
    metrics = (await api.http.get("/metrics")).text
    assert "/v1/patients/{patient_id}/consultations" in metrics
    assert "01018012345" not in metrics
