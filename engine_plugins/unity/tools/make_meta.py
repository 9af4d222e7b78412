"""Write the missing Unity ``.meta`` files of the package, with GUIDs derived from the path.

A package installed from git sits in Unity's read-only ``Library/PackageCache``, where assets
without a ``.meta`` are ignored, so the package ships one for every file and folder (except the
``~`` folders Unity never imports). ``uuid5`` of the package-relative path gives stable, unique
GUIDs; existing ``.meta`` files are never rewritten. Usage: ``python make_meta.py [PACKAGE_DIR]``.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "com.talkbridge.unity"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/talkbridge/talkbridge/com.talkbridge.unity")

IMPORTER_TAIL = "  externalObjects: {}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n"
MONO_TAIL = ("  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n  executionOrder: 0\n"
             "  icon: {instanceID: 0}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n")


def meta_text(path: Path, guid: str) -> str:
    head = f"fileFormatVersion: 2\nguid: {guid}\n"
    if path.is_dir():
        return head + "folderAsset: yes\nDefaultImporter:\n" + IMPORTER_TAIL
    if path.suffix == ".cs":
        return head + "MonoImporter:\n" + MONO_TAIL
    if path.suffix == ".asmdef":
        return head + "AssemblyDefinitionImporter:\n" + IMPORTER_TAIL
    if path.name == "package.json":
        return head + "PackageManifestImporter:\n" + IMPORTER_TAIL
    if path.suffix in (".md", ".txt", ".json"):
        return head + "TextScriptImporter:\n" + IMPORTER_TAIL
    return head + "DefaultImporter:\n" + IMPORTER_TAIL


def assets(package: Path) -> list[Path]:
    found = []
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package)
        if path.suffix == ".meta" or any(p.endswith("~") or p.startswith(".") for p in rel.parts):
            continue
        found.append(path)
    return found


def main(argv: list[str]) -> int:
    package = Path(argv[0]) if argv else PACKAGE
    for path in assets(package):
        meta = Path(f"{path}.meta")
        if meta.exists():
            continue
        guid = uuid.uuid5(NAMESPACE, path.relative_to(package).as_posix()).hex
        meta.write_text(meta_text(path, guid), encoding="utf-8")
        print(f"wrote {meta.relative_to(package)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
