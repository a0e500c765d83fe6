import os
import stat

from bench import io as bio


def test_atomic_writes_leave_ordinary_permissions_and_no_temporaries(tmp_path):
    target = tmp_path / "out" / "record.json"
    bio.write_json(target, {"a": 1})
    assert bio.read_json(target) == {"a": 1}
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["record.json"]
