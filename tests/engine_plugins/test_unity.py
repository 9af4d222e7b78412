"""The Unity package's pure C# core, built with mono's ``mcs`` and run under NUnit here.

``Runtime/Core`` (plain C# 7.2, no UnityEngine) and its tests in ``Tests/Runtime/Core`` are
compiled into two assemblies (so ``InternalsVisibleTo`` is exercised as in Unity), then
``nunit-console`` runs them against the golden fixtures and a real ``talkbridge serve`` on
loopback, whose URL the live tests read from ``TALKBRIDGE_URL``. The MonoBehaviours and the
editor code need UnityEngine and are only compiled inside Unity; the package layout they
rely on (asmdefs, package.json, .meta files) is checked here.

Without mcs/nunit-console this skips locally and fails when ``CI`` is set: CI installs
``mono-devel nunit-console libnunit-cil-dev`` and must never skip silently.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "engine_plugins" / "unity" / "com.talkbridge.unity"
FIXTURES = ROOT / "tests" / "fixtures" / "protocol"
NUNIT_GLOBS = (
    "/usr/lib/cli/nunit.framework-2.6*/nunit.framework.dll",
    "/usr/lib/mono/gac/nunit.framework/2.6*/nunit.framework.dll",
    "/usr/lib/cli/nunit.framework*/nunit.framework.dll",
)


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must install mono-devel nunit-console libnunit-cil-dev")
    pytest.skip(why)


def _toolchain() -> tuple[str, str, str]:
    mcs, nunit = shutil.which("mcs"), shutil.which("nunit-console")
    framework = next((hit for pattern in NUNIT_GLOBS for hit in sorted(glob.glob(pattern))), None)
    if not (mcs and nunit and framework):
        _unavailable("mono's mcs, nunit-console or nunit.framework.dll is missing")
    return mcs, nunit, framework  # type: ignore[return-value]


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]


def _compile(mcs: str, framework: str, out: Path) -> Path:
    core = out / "TalkBridge.Core.dll"
    tests = out / "TalkBridge.Tests.dll"
    common = [mcs, "-langversion:7.2", "-warnaserror", "-target:library", "-debug"]
    builds = [
        [*common, f"-out:{core}", *sorted(map(str, (PACKAGE / "Runtime" / "Core").glob("*.cs")))],
        [*common, f"-out:{tests}", f"-r:{core}", f"-r:{framework}",
         *sorted(map(str, (PACKAGE / "Tests" / "Runtime" / "Core").glob("*.cs")))],
    ]
    for cmd in builds:
        result = _run(cmd)
        assert result.returncode == 0, f"mcs failed:\n{result.stdout}\n{result.stderr}"
    return tests


def test_core_builds_and_passes_its_nunit_tests(tmp_path: Path, server: str) -> None:
    mcs, nunit, framework = _toolchain()
    dll = _compile(mcs, framework, tmp_path)
    env = {**os.environ, "TALKBRIDGE_URL": server, "TALKBRIDGE_FIXTURES": str(FIXTURES), "CI": "1"}
    result = _run([nunit, "-nologo", "-labels", f"-xml={tmp_path / 'results.xml'}", str(dll)],
                  cwd=tmp_path, env=env)
    output = f"{result.stdout}\n{result.stderr}"
    summary = re.search(r"Tests run: (\d+), Errors: (\d+), Failures: (\d+), Inconclusive: (\d+)", output)
    skipped = re.search(r"Not run: (\d+), Invalid: (\d+), Ignored: (\d+), Skipped: (\d+)", output)
    assert result.returncode == 0 and summary and skipped, output
    run, errors, failures, inconclusive = map(int, summary.groups())
    assert (errors, failures, inconclusive) == (0, 0, 0), output
    assert sum(map(int, skipped.groups())) == 0, "every C# test must run here:\n" + output
    assert run >= 78, output


def test_unity_scripts_type_check_against_an_api_stub(tmp_path: Path) -> None:
    """Not a Unity compile: catches typos and API drift in the code only Unity builds."""
    mcs, _, framework = _toolchain()
    stub, core, runtime, editor = (tmp_path / f"{n}.dll" for n in
                                   ("UnityApiStub", "TalkBridge.Core", "TalkBridge", "TalkBridge.Editor"))
    base = [mcs, "-langversion:7.2", "-target:library", "-nowarn:67,649"]
    sources = lambda *parts: sorted(map(str, PACKAGE.joinpath(*parts[:-1]).glob(parts[-1])))  # noqa: E731
    builds = [
        [*base, f"-out:{stub}", str(PACKAGE.parent / "stubs" / "UnityApiStub.cs")],
        [*base, f"-out:{core}", *sources("Runtime", "Core", "*.cs")],
        [*base, f"-out:{runtime}", f"-r:{stub}", f"-r:{core}", *sources("Runtime", "*.cs")],
        [*base, f"-out:{editor}", f"-r:{stub}", f"-r:{core}", f"-r:{runtime}", *sources("Editor", "*.cs")],
        [*base, f"-out:{tmp_path / 'TalkBridge.Tests.dll'}", f"-r:{stub}", f"-r:{core}", f"-r:{runtime}",
         f"-r:{framework}", *sources("Tests", "Runtime", "*.cs")],
        [*base, f"-out:{tmp_path / 'TalkBridge.Editor.Tests.dll'}", f"-r:{stub}", f"-r:{core}", f"-r:{runtime}",
         f"-r:{editor}", f"-r:{framework}", *sources("Tests", "Editor", "*.cs")],
        [*base, f"-out:{tmp_path / 'Sample.dll'}", f"-r:{stub}", f"-r:{core}", f"-r:{runtime}",
         *sources("Samples~", "TalkingAvatar", "*.cs")],
    ]
    for cmd in builds:
        result = _run(cmd)
        assert result.returncode == 0, f"{cmd[-1]}:\n{result.stdout}\n{result.stderr}"


def test_core_has_no_unity_reference() -> None:
    for source in (PACKAGE / "Runtime" / "Core").glob("*.cs"):
        assert "UnityEngine" not in source.read_text(encoding="utf-8"), source
    asmdef = json.loads((PACKAGE / "Runtime" / "Core" / "TalkBridge.Core.asmdef").read_text())
    assert asmdef["noEngineReferences"] is True


def test_package_manifest_and_asmdefs() -> None:
    manifest = json.loads((PACKAGE / "package.json").read_text())
    assert manifest["name"] == "com.talkbridge.unity"
    assert manifest["unity"] == "2021.3"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    for sample in manifest["samples"]:
        assert (PACKAGE / sample["path"]).is_dir(), sample
    asmdefs = {p.relative_to(PACKAGE).as_posix(): json.loads(p.read_text())
               for p in PACKAGE.rglob("*.asmdef")}
    names = {a["name"] for a in asmdefs.values()}
    for path, asmdef in asmdefs.items():
        for ref in asmdef.get("references", []):
            assert ref in names or ref.startswith("Unity"), f"{path}: unknown reference {ref}"
        if path.startswith("Tests/"):
            assert asmdef["defineConstraints"] == ["UNITY_INCLUDE_TESTS"], path
            assert "nunit.framework.dll" in asmdef["precompiledReferences"], path
    for tested in ("TalkBridge.Tests", "TalkBridge.Editor.Tests"):
        assert tested in names


def test_every_asset_has_a_meta_file_with_a_unique_guid() -> None:
    """Unity ignores meta-less assets in read-only package folders (git URL installs)."""
    guids: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE)
        if any(part.endswith("~") or part.startswith(".") for part in rel.parts):
            continue
        if path.suffix == ".meta":
            assert path.with_suffix("").exists(), f"orphan meta file {rel}"
            continue
        meta = Path(f"{path}.meta")
        assert meta.is_file(), f"{rel} has no .meta file"
        match = re.search(r"^guid: ([0-9a-f]{32})$", meta.read_text(), re.M)
        assert match, f"{rel}.meta has no valid guid"
        assert match.group(1) not in guids, f"{rel} and {guids.get(match.group(1))} share a guid"
        guids[match.group(1)] = rel
        assert ("folderAsset: yes" in meta.read_text()) == path.is_dir(), rel


def test_the_package_packs_into_a_tarball_unity_can_add(tmp_path):
    """`npm pack` of the package folder is what *Add package from tarball…* takes: its
    package.json names a UPM package, and every file and folder Unity imports has a .meta
    with its own GUID (Unity ignores the folders whose names end in ~)."""
    import tarfile

    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            pytest.fail("npm is missing; .ci/run uses the machine's node and npm")
        pytest.skip("npm is not installed")
    run = subprocess.run([npm, "pack", str(PACKAGE), "--pack-destination", str(tmp_path),
                          "--json", "--silent"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    (tarball,) = tmp_path.glob("com.talkbridge.unity-*.tgz")
    with tarfile.open(tarball) as archive:
        names = [n[len("package/"):] for n in archive.getnames()]
        manifest = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
        metas = {n: archive.extractfile("package/" + n).read().decode()  # type: ignore[union-attr]
                 for n in names if n.endswith(".meta")}
    assert manifest["name"] == "com.talkbridge.unity" and re.fullmatch(r"\d+\.\d+\.\d+",
                                                                         manifest["version"])
    assert re.fullmatch(r"20\d\d\.\d", manifest["unity"])
    imported = [n for n in names if not n.endswith(".meta")
                and not any(part.endswith("~") for part in Path(n).parts)]
    folders = {str(parent) for n in imported for parent in Path(n).parents if str(parent) != "."}
    missing = sorted(n for n in [*imported, *folders] if n + ".meta" not in metas)
    assert missing == [], f"no .meta for {missing}"
    guids = [re.search(r"^guid: ([0-9a-f]{32})$", text, re.M) for text in metas.values()]
    assert all(guids) and len({g.group(1) for g in guids}) == len(guids)  # type: ignore[union-attr]
    assert tarball.name == f"com.talkbridge.unity-{manifest['version']}.tgz"
