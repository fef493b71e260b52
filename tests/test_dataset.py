"""A folder of Parquet files (a dataset, hive-style or not) is data like one file, and a process
with a shard reads only the row groups that hold its ids (data.dataset)."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from grucast import checkpoint
from grucast.data import dataset, shards
from grucast.ops.paths import file_identity

from conftest import TINY, cli, sine_panel

FAST = [*TINY, "--horizon", "6", "--input-size", "24", "--max-steps", "20"]


def hive(df: pd.DataFrame, folder) -> None:
    """A folder per series, series_id=ID, as pandas and Spark write a dataset partitioned by it."""
    df.to_parquet(folder, partition_cols=["series_id"], index=False)


def plain(df: pd.DataFrame, folder, files: int = 2, group: int = 100) -> None:
    """The rows cut into files, in order, each written in row groups of `group` rows."""
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(df)), files)):
        pq.write_table(pa.Table.from_pandas(df.iloc[part], preserve_index=False), folder / f"part-{i}.parquet",
                       row_group_size=group)
    (folder / "_SUCCESS").write_text("")  # Spark's marker: not data


@pytest.mark.parametrize("layout", ["hive", "plain"])
def test_a_parquet_dataset_trains_and_forecasts_as_the_csv_file(tmp_path, layout):
    df = sine_panel(n_series=3, length=200)
    df.to_csv(tmp_path / "d.csv", index=False)
    (hive if layout == "hive" else plain)(df, tmp_path / "ds")
    assert cli("train", tmp_path / "d.csv", "-o", tmp_path / "csv.pt", *FAST, "-q").exit_code == 0
    r = cli("train", tmp_path / "ds", "-o", tmp_path / "ds.pt", *FAST)
    assert r.exit_code == 0, r.stderr
    assert "id column 'series_id'" in r.stderr and "3 series, 600 points" in r.stderr
    a, b = checkpoint.load(tmp_path / "csv.pt"), checkpoint.load(tmp_path / "ds.pt")
    for name, w in a.state_dict.items():
        assert torch.equal(b.state_dict[name], w), name
    r = cli("predict", tmp_path / "ds.pt", tmp_path / "ds", "-o", tmp_path / "f.csv")
    assert r.exit_code == 0, r.stderr
    f = pd.read_csv(tmp_path / "f.csv")
    assert sorted(f["series_id"].unique()) == ["s0", "s1", "s2"] and len(f) == 18
    shown = json.loads((tmp_path / "f.csv.manifest.json").read_text())["input"]
    assert shown["files"] == (3 if layout == "hive" else 2) and shown["sha256"] == file_identity(tmp_path / "ds")["sha256"]


def test_ids_in_folder_names_are_kept_as_written(tmp_path):
    df = sine_panel(n_series=2, length=200).replace({"series_id": {"s0": "007", "s1": "a b"}})
    hive(df, tmp_path / "ds")  # folders series_id=007 and series_id=a%20b
    r = cli("train", tmp_path / "ds", "-o", tmp_path / "m.pt", *FAST, "-q")
    assert r.exit_code == 0, r.stderr
    r = cli("predict", tmp_path / "m.pt", tmp_path / "ds", "-o", tmp_path / "f.csv")
    assert r.exit_code == 0, r.stderr
    assert sorted(pd.read_csv(tmp_path / "f.csv", dtype={"series_id": str})["series_id"].unique()) == ["007", "a b"]


def test_the_identity_of_a_dataset_changes_with_its_files_not_with_markers(tmp_path):
    plain(sine_panel(), tmp_path / "ds")
    first = file_identity(tmp_path / "ds")
    (tmp_path / "ds" / "_committed").write_text("x")
    (tmp_path / "ds" / ".part-0.parquet.crc").write_text("x")
    assert file_identity(tmp_path / "ds") == first
    (tmp_path / "ds" / "part-1.parquet").rename(tmp_path / "ds" / "part-2.parquet")
    assert file_identity(tmp_path / "ds")["sha256"] != first["sha256"]


def reads(monkeypatch) -> list:
    """Every row group read: (group, the columns asked for, None for all)."""
    seen = []
    one, many = pq.ParquetFile.read_row_group, pq.ParquetFile.read_row_groups

    def spy_one(self, i, columns=None, **kw):
        seen.append((i, columns))
        return one(self, i, columns=columns, **kw)

    def spy_many(self, groups, columns=None, **kw):
        seen.extend((i, columns) for i in groups)
        return many(self, groups, columns=columns, **kw)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy_one)
    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy_many)
    return seen


@pytest.mark.parametrize("layout", ["hive", "sorted", "mixed"])
def test_a_shard_reads_only_the_row_groups_of_its_ids(tmp_path, monkeypatch, layout):
    """Hive folders by id: the other shards' files are not opened for rows at all. One id per
    row group (a file sorted by id): their statistics tell, no id column is read. Ids mixed in
    row groups: the id column alone is read to tell, the other columns only where the shard has
    ids. In every case the shards' rows, put together, are the whole data's, at the same rows."""
    df = sine_panel(n_series=12, length=50)
    if layout == "hive":
        hive(df, tmp_path / "ds")
    elif layout == "sorted":
        plain(df, tmp_path / "ds", files=3, group=50)
    else:
        plain(df.sample(frac=1, random_state=0).reset_index(drop=True), tmp_path / "ds", files=2, group=100)
    whole = dataset.read(tmp_path / "ds")
    seen = reads(monkeypatch)
    got = []
    for i in (1, 2, 3):
        seen.clear()
        rows, stats = dataset.read_shard(tmp_path / "ds", "series_id", (i, 3))
        mine = set(rows["series_id"])
        assert mine == {s for s in whole["series_id"].unique() if shards.contains([s], (i, 3))[0]}
        groups = 12 if layout != "mixed" else 6
        assert stats.row_groups == groups
        whole_reads = [s for s in seen if s[1] is None]
        assert stats.read == len(whole_reads)
        if layout != "mixed":
            assert stats.read == len(mine) and all(s[1] is None for s in seen)  # ids from names or statistics
        else:
            assert [s[1] for s in seen if s[1] is not None] == [["series_id"]] * groups
        got.append(rows)
    together = pd.concat(got).sort_index()
    pd.testing.assert_frame_equal(together, whole)


def test_a_shard_of_a_single_parquet_file_sorted_by_id(tmp_path, monkeypatch):
    df = sine_panel(n_series=4, length=50)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "d.parquet", row_group_size=50)
    expected = [i for i, s in enumerate(df["series_id"]) if shards.contains([s], (1, 2))[0]]
    for batch in (1_000_000, 60):  # the row groups read together, or a read each
        rows, stats = dataset.read_shard(tmp_path / "d.parquet", "series_id", (1, 2), batch_rows=batch)
        assert stats.row_groups == 4 and stats.read == rows["series_id"].nunique()
        assert list(rows.index) == expected
        pd.testing.assert_frame_equal(rows, dataset.read(tmp_path / "d.parquet").loc[expected])


@pytest.mark.parametrize("shape", ["two-targets", "wide-parquet", "hive"])
def test_predict_shard_data_reads_its_series_and_the_shards_compose(tmp_path, shape):
    """predict --shard i/n --shard-data reads only shard i's rows (its columns of a wide file,
    its files of a dataset); the shard files 1..n, headers dropped, are the one-process file,
    and the observations their manifests count add up to the whole file's. A model of two
    targets forecasts a series 'id/target' each and shards by that text: an id's rows are read
    by every shard that holds one of its series."""
    df = sine_panel(n_series=5, length=120)
    if shape == "two-targets":
        data, extra = tmp_path / "d.csv", ["--target", "value,v2"]
        df.assign(v2=df["value"] * 2 + 1).to_csv(data, index=False)
    elif shape == "wide-parquet":
        data, extra = tmp_path / "w.parquet", []
        df.pivot(index="timestamp", columns="series_id", values="value").reset_index().to_parquet(data, index=False)
    else:
        data, extra = tmp_path / "ds", []
        hive(df, data)
    assert cli("train", data, "-o", tmp_path / "m.pt", *FAST, *extra, "-q").exit_code == 0
    r = cli("predict", tmp_path / "m.pt", data, "-o", tmp_path / "all.csv")
    assert r.exit_code == 0, r.stderr
    whole = (tmp_path / "all.csv").read_bytes()
    header = whole.split(b"\n", 1)[0] + b"\n"
    parts, counted = [], 0
    for i in (1, 2, 3):
        out = tmp_path / f"part{i}.csv"
        r = cli("predict", tmp_path / "m.pt", data, "-o", out, "--shard", f"{i}/3", "--shard-data")
        assert r.exit_code == 0, r.stderr
        parts.append(out.read_bytes()[len(header):])
        counted += json.loads((tmp_path / f"part{i}.csv.manifest.json").read_text())["input"]["observations"]
    assert header + b"".join(parts) == whole
    assert counted == json.loads((tmp_path / "all.csv.manifest.json").read_text())["input"]["observations"]


def test_a_dataset_of_more_files_than_may_be_open_at_once(tmp_path):
    """A dataset partitioned by id holds a file per series: thousands of them. Reading it must
    not hold them all open (a first version died here with 'Too many open files')."""
    resource = pytest.importorskip("resource")  # POSIX

    df = sine_panel(n_series=300, length=30)
    hive(df, tmp_path / "ds")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, hard))
    try:
        whole = dataset.read(tmp_path / "ds")
        rows, stats = dataset.read_shard(tmp_path / "ds", "series_id", (1, 2))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(whole) == 9000 and whole["series_id"].nunique() == 300
    assert stats.row_groups == 300 and stats.read == rows["series_id"].nunique()


def test_a_row_without_an_id_is_read_by_shard_1_even_in_a_row_group_of_one_id(tmp_path):
    """Statistics of a row group with one id and a missing one show min == max: the group must
    still reach shard 1, which refuses rows without an id, as the unsharded read does."""
    df = sine_panel(n_series=3, length=50).astype({"series_id": object})
    df.loc[60, "series_id"] = None  # in s1's row group
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "d.parquet", row_group_size=50)
    first, _ = dataset.read_shard(tmp_path / "d.parquet", "series_id", (1, 3))
    assert 60 in first.index
    from grucast.config.settings import DataConfig
    from grucast.data.table import load_table
    from grucast.errors import DataError

    with pytest.raises(DataError, match="empty series id in column 'series_id' at line 62"):
        load_table(tmp_path / "d.parquet", DataConfig(), shard=(1, 3))


def test_shards_of_parquet_with_spaces_around_column_names_and_of_a_wide_csv_with_row_numbers(tmp_path):
    from grucast.config.settings import DataConfig
    from grucast.data.table import load_table

    df = sine_panel(n_series=3, length=50)
    df.rename(columns={"series_id": " series_id", "value": "value "}).to_parquet(tmp_path / "s.parquet", index=False)
    got = [load_table(tmp_path / "s.parquet", DataConfig(), shard=(i, 2)) for i in (1, 2)]
    assert sorted(s for t in got for s in t.frame["series_id"].unique()) == ["s0", "s1", "s2"]
    wide = df.pivot(index="timestamp", columns="series_id", values="value").reset_index()
    wide.to_csv(tmp_path / "w.csv")  # with pandas' row numbers, a column without a name
    got = [load_table(tmp_path / "w.csv", DataConfig(), shard=(i, 2)) for i in (1, 2)]
    assert all(t.schema.series_cols == ("s0", "s1", "s2") for t in got)
    assert sorted(s for t in got for s in t.frame["series_id"].unique()) == ["s0", "s1", "s2"]


def test_links_in_a_dataset_are_followed_and_guarded(tmp_path):
    """A link to a folder is read; a link loop is an error; an output may not replace a file a
    link in the dataset points to, nor go into a folder a link reaches."""
    df = sine_panel(n_series=2, length=200)
    (tmp_path / "ds").mkdir()
    (tmp_path / "elsewhere").mkdir()
    df[df.series_id == "s0"].to_parquet(tmp_path / "ds" / "a.parquet", index=False)
    df[df.series_id == "s1"].to_parquet(tmp_path / "elsewhere" / "b.parquet", index=False)
    (tmp_path / "ds" / "more").symlink_to(tmp_path / "elsewhere")
    assert sorted(dataset.read(tmp_path / "ds")["series_id"].unique()) == ["s0", "s1"]
    assert cli("train", tmp_path / "ds", "-o", tmp_path / "m.pt", *FAST, "-q").exit_code == 0
    r = cli("predict", tmp_path / "m.pt", tmp_path / "ds", "-o", tmp_path / "elsewhere" / "f.csv")
    assert r.exit_code == 1 and "is inside DATA" in r.stderr
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == ["b.parquet"]
    df[df.series_id == "s1"].to_parquet(tmp_path / "c.parquet", index=False)
    (tmp_path / "ds" / "more").unlink()
    (tmp_path / "ds" / "c.parquet").symlink_to(tmp_path / "c.parquet")  # a link to a file outside
    before = (tmp_path / "c.parquet").read_bytes()
    r = cli("predict", tmp_path / "m.pt", tmp_path / "ds", "-o", tmp_path / "c.parquet")
    assert r.exit_code == 1 and "grucast never writes over one of its own inputs" in r.stderr
    assert (tmp_path / "c.parquet").read_bytes() == before
    (tmp_path / "ds" / "loop").symlink_to(tmp_path)
    r = cli("check", tmp_path / "ds")
    assert r.exit_code == 1 and "twice" in r.stdout + r.stderr


def test_files_whose_column_types_disagree_are_one_error(tmp_path):
    (tmp_path / "ds").mkdir()
    df = sine_panel(n_series=2, length=100)
    df.iloc[:100].to_parquet(tmp_path / "ds" / "a.parquet", index=False)
    df.iloc[100:].astype({"value": str}).to_parquet(tmp_path / "ds" / "b.parquet", index=False)
    r = cli("check", tmp_path / "ds")
    assert r.exit_code == 1 and "types that do not go together" in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_an_empty_parquet_file_and_a_folder_of_too_many_files_are_one_line_each(tmp_path, monkeypatch):
    from grucast import files

    sine_panel().iloc[:0].to_parquet(tmp_path / "empty.parquet", index=False)
    r = cli("check", tmp_path / "empty.parquet")
    assert r.exit_code == 1 and "has a header but no data rows" in r.stdout + r.stderr
    from grucast.config.settings import DataConfig
    from grucast.data.table import load_table
    from grucast.errors import DataError

    with pytest.raises(DataError, match="has a header but no data rows"):
        load_table(tmp_path / "empty.parquet", DataConfig(), shard=(1, 2))
    plain(sine_panel(), tmp_path / "ds", files=4)
    monkeypatch.setattr(files, "MAX_DATASET_FILES", 3)
    r = cli("check", tmp_path / "ds")
    assert r.exit_code == 1 and "holds over 3 files" in r.stdout + r.stderr
