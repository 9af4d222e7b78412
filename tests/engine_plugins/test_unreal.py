"""The Unreal plugin's protocol core, built with CMake + GoogleTest and run here.

``Source/TalkBridgeProtocol`` (plain C++17, no Unreal types) and its tests are configured and
built with CMake (one test executable; Boost.Beast only in the live test's client), then run
against the golden fixtures and a real ``talkbridge serve`` on loopback, whose URL the live
tests read from ``TALKBRIDGE_URL``. The ``TalkBridge`` runtime module (Live Link source, audio
player, Blueprint component) needs the engine and is only compiled inside Unreal; what can be
checked without it (the .uplugin, the module list, that the protocol core stays free of
Unreal types and in step with its CMake build) is checked here.

Without cmake, a compiler, GoogleTest or Boost this skips locally and fails when ``CI`` is
set: CI installs ``cmake g++ libgtest-dev libboost-dev`` and must never skip silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "engine_plugins" / "unreal" / "TalkBridge"
CORE = PLUGIN / "Source" / "TalkBridgeProtocol"
RUNTIME = PLUGIN / "Source" / "TalkBridge"
FIXTURES = ROOT / "tests" / "fixtures" / "protocol"
APT = "cmake g++ libgtest-dev libboost-dev"
#: Files of the protocol module that only Unreal compiles (module boilerplate, third-party guard).
UNREAL_ONLY = {"TalkBridgeProtocolModule.cpp"}


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must install {APT}")
    pytest.skip(why)


def _run(cmd: list[str], timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def test_binary() -> Path:
    """Configure and build once per run; the build folder persists in the temp dir, so a
    second local run only recompiles what changed (CI starts from scratch, ~1 minute)."""
    cmake = shutil.which("cmake")
    if not cmake or not (shutil.which("c++") or shutil.which("g++")):
        _unavailable("cmake or a C++ compiler is missing")
    key = hashlib.sha1(str(CORE).encode()).hexdigest()[:10]
    build = Path(os.environ.get("TALKBRIDGE_UNREAL_BUILD_DIR")
                 or Path(tempfile.gettempdir()) / f"talkbridge-unreal-{key}")
    configure = _run([cmake, "-S", str(CORE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Debug",
                      f"-DTALKBRIDGE_FIXTURES_DIR={FIXTURES}"])
    if configure.returncode != 0:
        output = configure.stdout + configure.stderr
        if re.search(r"Could NOT find (GTest|Boost)", output):
            _unavailable("GoogleTest or Boost headers are missing:\n" + output[-2000:])
        pytest.fail("cmake configure failed:\n" + output[-6000:])
    jobs = str(max(2, min(4, os.cpu_count() or 2)))
    built = _run([cmake, "--build", str(build), "-j", jobs])
    assert built.returncode == 0, "build failed:\n" + (built.stdout + built.stderr)[-8000:]
    binary = build / "talkbridge_protocol_tests"
    assert binary.is_file(), binary
    return binary


def _gtest(binary: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    result = _run([str(binary), "--gtest_color=no", *args], timeout=300, env=env)
    return result.returncode, f"{result.stdout}\n{result.stderr}"


def test_protocol_core_passes_its_gtest_suite_against_a_live_server(test_binary: Path, server: str) -> None:
    env = {**os.environ, "TALKBRIDGE_URL": server, "TALKBRIDGE_FIXTURES_DIR": str(FIXTURES)}
    code, output = _gtest(test_binary, env)
    assert code == 0, output
    ran = re.search(r"\[==========\] (\d+) tests? from \d+ test suites? ran", output)
    passed = re.search(r"\[  PASSED  \] (\d+) tests?", output)
    assert ran and passed, output
    assert "[  SKIPPED ]" not in output, "every C++ test must run here (the live ones too):\n" + output
    assert int(passed.group(1)) == int(ran.group(1)) >= 71, output
    for live in ("SayPlaysInSyncOnTheAudioClock", "InterruptGetsClearThenEndAndNothingMore"):
        assert f"[       OK ] LiveServer.{live}" in output, output


def test_live_tests_fail_rather_than_skip_when_the_server_is_unreachable(test_binary: Path) -> None:
    env = {**os.environ, "TALKBRIDGE_URL": "ws://127.0.0.1:9/v1/stream"}
    code, output = _gtest(test_binary, env, "--gtest_filter=LiveServer.*")
    assert code != 0, output
    assert "[  FAILED  ]" in output and "[  SKIPPED ]" not in output, output


def test_uplugin_lists_both_modules() -> None:
    descriptor = json.loads((PLUGIN / "TalkBridge.uplugin").read_text(encoding="utf-8"))
    assert descriptor["FileVersion"] == 3
    modules = {m["Name"]: m for m in descriptor["Modules"]}
    assert set(modules) == {"TalkBridgeProtocol", "TalkBridge"}
    for name, module in modules.items():
        assert module["Type"] == "Runtime", name
        assert (PLUGIN / "Source" / name / f"{name}.Build.cs").is_file(), name
    plugins = {p["Name"]: p for p in descriptor.get("Plugins", [])}
    assert plugins["LiveLink"]["Enabled"] is True
    assert plugins["AudioCapture"]["Enabled"] is True


def test_cmake_builds_every_protocol_source_unreal_builds() -> None:
    cmake_lists = (CORE / "CMakeLists.txt").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s+((?:Private|Tests)/\w+\.cpp)\)?\s*$", cmake_lists, re.M))
    for source in (CORE / "Private").glob("*.cpp"):
        in_cmake = f"Private/{source.name}" in listed
        assert in_cmake != (source.name in UNREAL_ONLY), f"{source.name}: CMake and Unreal disagree"
    for test in (CORE / "Tests").glob("*.cpp"):
        assert f"Tests/{test.name}" in listed, test.name


def test_protocol_core_has_no_unreal_types() -> None:
    unreal = re.compile(r"\b(CoreMinimal|UCLASS|USTRUCT|UFUNCTION|FString|FName|TArray|TMap|UObject)\b")
    for source in sorted((CORE / "Public").rglob("*.h")) + sorted((CORE / "Private").glob("*")):
        if source.name in UNREAL_ONLY:
            continue
        text = source.read_text(encoding="utf-8")
        assert not unreal.search(text), f"{source.name} uses an Unreal type"
    # msgpack stays private: modules compiled without exceptions must never include it
    for header in (CORE / "Public").rglob("*.h"):
        assert not re.search(r"#include\s*[<\"]msgpack", header.read_text(encoding="utf-8")), header.name


def test_sources_stay_small_and_msgpack_carries_its_licence() -> None:
    for source in sorted(PLUGIN.joinpath("Source").rglob("*")):
        if source.suffix in {".h", ".cpp", ".cs"} and "ThirdParty" not in source.parts:
            lines = source.read_text(encoding="utf-8").count("\n")
            assert lines <= 400, f"{source.relative_to(PLUGIN)} has {lines} lines"
    licence = PLUGIN / "Source" / "ThirdParty" / "msgpack" / "LICENSE_1_0.txt"
    assert "Boost Software License - Version 1.0" in licence.read_text(encoding="utf-8")
