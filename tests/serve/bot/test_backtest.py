"""What /backtest launches is what the strategies sensor launches: the same job, assets, tags and wave id."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve.bot import backtest


def test_the_launch_is_the_sensors():
    from assets.partitions import RANGE_END, RANGE_START, strategy_files
    from assets.simulation import sensors
    from assets.waves import STRATEGY, WAVE, simulation_job, wave_id

    assert backtest.JOB == simulation_job.name
    assert sorted(backtest.STRATEGY_WAVE) == sorted(k.to_user_string() for k in sensors.STRATEGY_WAVE)
    assert (backtest.RANGE_START, backtest.RANGE_END) == (RANGE_START, RANGE_END)
    assert (backtest.STRATEGY_TAG, backtest.WAVE_TAG) == (STRATEGY, WAVE)
    assert backtest.PARTITIONS_DEF == strategy_files.name
    assert backtest.LAUNCHING == sensors.LAUNCHING
    assert backtest.wave_id("strategy:x:0123456789abcdef") == wave_id("strategy:x:0123456789abcdef")


@pytest.mark.parametrize(("name", "stem"),
                         [("my_2x.yaml", "my_2x"), ("a.b-c.yaml", "a.b-c"), ("../up.yaml", "up")])
def test_file_names(name, stem):
    assert backtest.stem_of(name) == stem


@pytest.mark.parametrize("name", [".hidden.yaml", "x.yml", "no suffix", "sp ace.yaml", ""])
def test_bad_file_names(name):
    with pytest.raises(backtest.BacktestError):
        backtest.stem_of(name)


def test_a_name_another_file_holds_is_refused(tmp_path: Path):
    (tmp_path / "quick_2x.yaml").write_text("name: quick_2x\ntake_profit: 2\n")
    with pytest.raises(backtest.BacktestError, match="'quick_2x' is already in quick_2x.yaml"):
        backtest.check("copy", b"name: quick_2x\ntake_profit: 3\n", tmp_path)
    assert backtest.check("copy", b"take_profit: 3\n", tmp_path) == ["copy"]
