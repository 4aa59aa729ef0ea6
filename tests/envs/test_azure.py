import pytest

from envs import WorkloadError
from envs.workloads import load_vms
from tests.envs.trace_files import VMTABLE, write_vmtable


@pytest.mark.parametrize("with_category", [True, False])
def test_vmtable_rows_become_tasks(tmp_path, with_category):
    path = write_vmtable(tmp_path / "vmtable.csv", with_category=with_category)
    table = load_vms(path, cores_per_host=32, mem_gb_per_host=128)
    rows = table.to_pylist()
    assert [r["submit_s"] for r in rows] == [0, 300, 600, 900]
    b = rows[1]
    assert b["cpu"] == pytest.approx(4 / 32) and b["mem"] == pytest.approx(8 / 128)
    assert b["duration_s"] == 3600 and b["duration_observed"]
    assert b["usage_factor"] == pytest.approx(0.10)
    assert b["deferrable"] == with_category
    assert rows[2]["cpu"] == pytest.approx(1.25 * 24 / 32)  # ">24" bucket
    assert not rows[0]["duration_observed"]  # alive for the whole trace
    assert (rows[0]["job_id"], rows[1]["job_id"]) == (rows[0]["job_id"], rows[0]["job_id"])
    assert sorted(r["task_index"] for r in rows[:2]) == [0, 1]


def test_bad_vmtable_is_one_line(tmp_path):
    rows = list(VMTABLE)
    rows[1] = rows[1][:4] + (100,) + rows[1][5:]  # deleted before created
    with pytest.raises(WorkloadError, match="row 2: deleted before"):
        load_vms(write_vmtable(tmp_path / "a.csv", rows))
    rows = list(VMTABLE)
    rows[2] = rows[2][:5] + ("lots",) + rows[2][6:]
    with pytest.raises(WorkloadError, match="row 3: column 'max_cpu'"):
        load_vms(write_vmtable(tmp_path / "b.csv", rows))
