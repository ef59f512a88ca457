"""The image files a run trains on, recorded in its workdir and checked when it resumes.

Prepared datasets (MNIST, Fashion-MNIST, CIFAR-10) are verified against the published
checksums of their originals and record the files they came from (gendl.data.source). Image
folders (the emoji, a user's own) have no published checksums and no preparation step: they
are decoded batch by batch. So the first start of a run records the SHA-256 of every file its
folder streams read (`<workdir>/data_files.json`), and a resume compares: files changed,
added or removed since then mean the resumed run would train on other data than the
checkpoints saw, which gendl says in one warning (and records the files as they now are).
"""

import hashlib
import json
import os

from absl import logging

from gendl.monitoring import images as images_lib

FILENAME = "data_files.json"


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def of_batches(batches) -> dict:
    """{stream: {file: SHA-256}} of the streams whose source reads files (image folders)."""
    streams = {"main": getattr(batches.main, "source", None)}
    streams.update({name: s.source for name, s in batches.extra.items()})
    out = {}
    for name, source in streams.items():
        files = getattr(source, "files", None)
        if files:  # FolderSource: [{feature: path}] of its split
            out[name] = {str(p): sha256(p) for example in files for p in example.values()}
    return out


def check_and_record(workdir: str, manifest: dict, resumed: bool) -> None:
    """Warns when a resumed run's files differ from those recorded; records the current ones."""
    if not manifest:
        return
    path = os.path.join(workdir, FILENAME)
    if resumed and os.path.exists(path):
        try:
            with open(path) as f:
                recorded = json.load(f)
        except (OSError, ValueError) as err:
            logging.warning("%s is unreadable (%s); recording the files anew.", path, err)
            recorded = manifest
        for message in differences(recorded, manifest):
            logging.warning("%s", message)
    images_lib.write_atomic(path, json.dumps(manifest, indent=0, sort_keys=True).encode())


def differences(recorded: dict, current: dict) -> list:
    """One message per stream whose files differ between `recorded` and `current`."""
    messages = []
    for stream in sorted(set(recorded) | set(current)):
        old, new = recorded.get(stream, {}), current.get(stream, {})
        changed = sorted(f for f in set(old) & set(new) if old[f] != new[f])
        added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
        if changed or added or removed:
            example = (changed or added or removed)[0]
            messages.append(
                f"The image files of stream {stream!r} differ from those this run started on: "
                f"{len(changed)} changed, {len(added)} added, {len(removed)} removed (e.g. "
                f"{example}). The resumed run trains on the files as they are now, which its "
                "checkpoints did not see; restore the original files to continue the same run, "
                "or start a new --workdir for the new data."
            )
    return messages
