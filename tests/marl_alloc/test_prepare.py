import pyarrow.parquet as pq
import pytest

from marl_alloc.prepare import main
from tests.envs.trace_files import write_machine_events, write_task_events, write_vmtable


def test_google2011_writes_zstd_parquet(tmp_path, capsys):
    tasks = write_task_events(tmp_path / "te.csv.gz")
    machines = write_machine_events(tmp_path / "me.csv.gz")
    out = tmp_path / "out"
    argv = ["--workload", "google2011", "--input", str(tasks), "--machine-events", str(machines)]
    assert main([*argv, "--output", str(out)]) == 0
    assert "tasks.parquet (4 rows)" in capsys.readouterr().out
    meta = pq.ParquetFile(out / "tasks.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    # removed machines too (cell replays need the machines of their window), with removed_s
    machines = pq.read_table(out / "machines.parquet")
    assert machines.num_rows == 3 and "removed_s" in machines.column_names
    assert not list(out.glob("*.tmp"))


def test_azure_writes_tasks(tmp_path):
    vmtable = write_vmtable(tmp_path / "vmtable.csv")
    out = tmp_path / "azure"
    assert main(["--workload", "azure", "--input", str(vmtable), "--output", str(out)]) == 0
    assert pq.read_table(out / "tasks.parquet").num_rows == 4


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"not gzip")
    assert main(["--workload", "google2011", "--input", str(bad), "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "bad.csv.gz" in err and "\n" not in err
    with pytest.raises(SystemExit):
        main(["--workload", "borg", "--input", str(bad), "--output", str(tmp_path)])


def test_real_google_parts(tmp_path, shared_data):
    folder = shared_data / "google-2011"
    part = folder / "task_events-part-00001-of-00500.csv.gz"
    if not part.is_file():
        pytest.skip("Google 2011 files are not in ../shared/data")
    machines = folder / "machine_events-part-00000-of-00001.csv.gz"
    argv = ["--workload", "google2011", "--input", str(part), "--machine-events", str(machines)]
    assert main([*argv, "--output", str(tmp_path)]) == 0
    assert pq.read_table(tmp_path / "tasks.parquet").num_rows > 10_000
