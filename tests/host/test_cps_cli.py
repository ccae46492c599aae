"""The CPS commands of the CLI (`cpsdi info`, `pin`, `certs`, `sign`, `verify-signature`, `demo`)
on in-process simulated readers (`sim://`, a fresh card per command)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cpsdi.cli import main
from cpsdi.cli_common import EXIT_CARD, EXIT_PIN
from cpsdi_boards.sim.cps.pki import card_pki

DOCTOR = "sim://?card=doctor"
PHARMACIST = "sim://?card=pharmacist"


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_info_lists_the_cards_with_their_holder() -> None:
    code, out, _ = run("info", "--port", f"{DOCTOR}&card=vitale2&card=none", "--json")
    assert code == 0
    cards = json.loads(out)["cards"]
    assert [c["present"] for c in cards] == [True, True, False]
    cps = cards[0]["cps"]
    assert cps["generation"] == "CPS3" and cps["card_number"] == "10000001"
    assert cps["holder"]["identity"]["last_name"] == "BIDE" and cps["holder"]["situations"] == []
    assert "CPS_ACTIVITY_01_PS" not in cps["holder"]["objects"]  # read with the PIN only
    assert cards[1]["cps"] is None and "Vitale" in cards[1]["note"]


def test_info_with_situations_reads_the_pin_from_an_env_variable() -> None:
    code, out, _ = run("info", "--port", PHARMACIST, "--situations", "--pin-env", "CPS_PIN", "--json",
                       env={"CPS_PIN": "1234"})
    assert code == 0
    cps = json.loads(out)["cards"][0]["cps"]
    assert [s["index"] for s in cps["holder"]["situations"]] == [1] and cps["pin"]["verified"]
    assert "1234" not in out


def test_pin_status_and_a_wrong_pin_gives_exit_8_and_the_tries_left() -> None:
    code, out, _ = run("pin", "status", "--port", DOCTOR, "--json")
    assert code == 0 and json.loads(out)["tries_left"] == 3
    code, out, err = run("pin", "verify", "--port", DOCTOR, input="9999\n")
    assert code == EXIT_PIN and "wrong PIN: 2 tries left" in err and "9999" not in out + err
    code, _, err = run("pin", "verify", "--port", "sim://?card=blocked", "--pin-env", "P", env={"P": "1234"})
    assert code == EXIT_PIN and "blocked" in err


def test_pin_from_a_file_descriptor(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"12345678\n4321\n")
    os.close(write_fd)
    try:
        code, out, err = run("pin", "unblock", "--port", "sim://?card=blocked", "--pin-fd", str(read_fd))
    finally:
        os.close(read_fd)
    assert code == 0, err
    assert "PIN unblocked" in out and "4321" not in out + err and "12345678" not in out + err


def test_pin_change_asks_for_the_new_pin_twice() -> None:
    code, out, err = run("pin", "change", "--port", PHARMACIST, input="1234\n5678\n5678\n")
    assert code == 0, err
    assert "PIN changed" in out and "5678" not in out + err


def test_bad_pin_format_is_refused_before_the_card() -> None:
    code, _, err = run("pin", "verify", "--port", DOCTOR, "--pin-env", "P", env={"P": "12a4"})
    assert code == 1 and "decimal digits" in err and "12a4" not in err


def test_no_pin_option_on_the_command_line() -> None:
    code, _, err = run("pin", "verify", "--port", DOCTOR, "--pin", "1234")
    assert code == 2 and "No such option" in err


def test_certs_export(tmp_path: Path) -> None:
    code, out, _ = run("certs", "--port", PHARMACIST, "--export", str(tmp_path), "--json")
    assert code == 0
    report = json.loads(out)
    pki = card_pki("pharmacist")
    assert (tmp_path / "10000002-signature.der").read_bytes() == pki.sign_cert_der
    assert (tmp_path / "10000002-authentication.der").read_bytes() == pki.auth_cert_der
    assert report["signature"]["issuer"].startswith("CN=TEST AC IGC-SANTE")


@pytest.mark.parametrize("port,pss", [(DOCTOR, False), (PHARMACIST, True)], ids=["cps3", "cps4-pss"])
def test_sign_then_verify_signature(tmp_path: Path, port: str, pss: bool) -> None:
    payload = tmp_path / "fse.bin"
    payload.write_bytes(b"care sheet" * 100)
    extra = ["--pss"] if pss else []
    code, out, err = run("sign", "--port", port, str(payload), "--pin-env", "P", "--json", *extra, env={"P": "1234"})
    assert code == 0, err
    report = json.loads(out)
    assert Path(report["signature"]).stat().st_size == 256
    code, out, _ = run("verify-signature", str(payload), report["signature"], "--json", *extra)
    assert code == 0 and json.loads(out)["valid"]
    payload.write_bytes(b"tampered")
    code, out, _ = run("verify-signature", str(payload), report["signature"], "--json", *extra)
    assert code == 1 and not json.loads(out)["valid"]


def test_pss_on_a_cps3_is_a_clear_error(tmp_path: Path) -> None:
    payload = tmp_path / "x"
    payload.write_bytes(b"x")
    code, _, err = run("sign", "--port", DOCTOR, str(payload), "--pss", "--pin-env", "P", env={"P": "1234"})
    assert code == EXIT_CARD and "RSA-PSS" in err


def test_not_a_cps_card() -> None:
    code, _, err = run("pin", "status", "--port", "sim://?card=t1")
    assert code == EXIT_CARD and "not a contact CPS card" in err


def test_demo_runs_a_full_session_on_a_pty() -> None:
    code, out, err = run("demo", "--card-time", "virtual", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["generation"] == "CPS4" and summary["situations"] == [1]
    assert summary["signature_algorithm"] == "RSASSA-PKCS1-v1_5 sha256"
    assert set(summary["steps_ms"]) >= {"verify PIN", "sign FSE payload", "verify signature"}


def test_pin_on_reader_uses_the_keypad_and_reads_no_secret() -> None:
    # change 1234 -> 5678 (CPS3: one PIN-pad command), then unblock with 12345678 and set 1234 again
    url = "sim://?card=doctor&keypad=1234E5678E5678E|5678E|12345678E|1234E1234E|1234E"
    code, out, err = run("pin", "change", "--on-reader", "--port", url, "--json", input="")
    assert code == 0 and json.loads(out) == {"changed": True} and "PIN pad" in err
    code, out, err = run("pin", "verify", "--on-reader", "--port", "sim://?card=pharmacist&keypad=9999E")
    assert code == EXIT_PIN and "wrong PIN: 2 tries left" in err and "9999" not in out + err
    code, out, _ = run("pin", "unblock", "--on-reader", "--port", "sim://?card=blocked&keypad=12345678E|4321E4321E",
                       "--json")
    assert code == 0 and json.loads(out) == {"unblocked": True}
    code, _, err = run("pin", "verify", "--on-reader", "--port", "sim://?card=doctor&keypad=12C")
    assert code == EXIT_PIN and "cancelled" in err
    code, _, err = run("pin", "verify", "--on-reader", "--port", "sim://?card=doctor")
    assert code == EXIT_CARD and "no PIN pad" in err
