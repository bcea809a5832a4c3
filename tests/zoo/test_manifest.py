"""The zoo manifest under concurrent writers: entries are added, never lost."""

from dnd.zoo import manifest as mf


def test_add_task_keeps_entries_written_by_another_process(tmp_path):
    mf.save_manifest(tmp_path, mf.new_manifest({"name": "m", "weights_sha256": "0"}, {"r": 4}))
    stale = mf.load_manifest(tmp_path)  # process 1 read the manifest before process 2 finished
    mf.add_task(tmp_path, "boolq", {"final_loss": 0.1})  # process 2
    assert "boolq" not in stale["tasks"]
    merged = mf.add_task(tmp_path, "sst2", {"final_loss": 0.2})  # process 1, later
    assert set(merged["tasks"]) == {"boolq", "sst2"}
    assert mf.load_manifest(tmp_path)["tasks"] == merged["tasks"]
