"""Walk-forward folds: the worked example of docs/semantics.md#walk-forward, and the plan's edges."""

from __future__ import annotations

import datetime as dt

import pytest

from quantbot_pipelines.validation import FoldPlan

D = dt.date


def test_semantics_example_rolling_and_anchored():
    plan = FoldPlan(train_days=30, test_days=14, step_days=14)
    folds = plan.folds(D(2025, 1, 1), D(2025, 3, 31))
    assert [f.key for f in folds] == ["2025-01-31..2025-02-13", "2025-02-14..2025-02-27",
                                      "2025-02-28..2025-03-13", "2025-03-14..2025-03-27",
                                      "2025-03-28..2025-04-10"]
    assert (folds[0].train_start, folds[0].train_end) == (D(2025, 1, 1), D(2025, 1, 31))
    assert (folds[1].train_start, folds[1].train_days[-1]) == (D(2025, 1, 15), D(2025, 2, 13))
    assert len([d for d in folds[4].test_days if d <= D(2025, 3, 31)]) == 4
    anchored = FoldPlan(train_days=30, test_days=14, step_days=14, mode="anchored").folds(D(2025, 1, 1),
                                                                                        D(2025, 3, 31))
    assert (anchored[1].train_start, anchored[1].train_days[-1]) == (D(2025, 1, 1), D(2025, 2, 13))
    assert [f.key for f in anchored] == [f.key for f in folds]


def test_no_fold_until_the_train_window_has_passed():
    plan = FoldPlan(train_days=60, test_days=14, step_days=14)
    assert plan.folds(D(2025, 1, 1), D(2025, 3, 1)) == []
    assert len(plan.folds(D(2025, 1, 1), D(2025, 3, 2))) == 1  # 60 days after the first


def test_keys_name_their_fold_and_nothing_else():
    plan = FoldPlan(train_days=14, test_days=7, step_days=7)
    first = D(2025, 9, 1)
    for fold in plan.folds(first, D(2025, 10, 12)):
        assert plan.fold_of(fold.key, first) == fold
    for bad in ("2025-09-16..2025-09-22", "2025-09-15..2025-09-20", "2025-08-01..2025-08-07"):
        with pytest.raises(ValueError, match="not a fold"):
            plan.fold_of(bad, first)


def test_stitched_days_never_overlap():
    first = D(2025, 1, 1)
    for test, step in ((14, 14), (14, 7), (7, 14)):
        plan = FoldPlan(train_days=10, test_days=test, step_days=step)
        days = [d for f in plan.folds(first, D(2025, 6, 30)) for d in plan.contributed_days(f)]
        assert len(days) == len(set(days))
        assert all(len(plan.contributed_days(f)) == min(test, step) for f in plan.folds(first, D(2025, 6, 30)))


def test_folds_touching_a_changed_day():
    plan = FoldPlan(train_days=14, test_days=7, step_days=7)
    folds = plan.folds(D(2025, 9, 1), D(2025, 10, 12))
    touched = plan.folds_touching(folds, {D(2025, 9, 20)})
    # 09-20 is in the first fold's test window and in the train windows of the next two
    assert [f.key[:10] for f in touched] == ["2025-09-15", "2025-09-22", "2025-09-29"]
    assert plan.folds_touching(folds, {D(2025, 12, 1)}) == []


@pytest.mark.parametrize("bad", [{"train_days": 0}, {"step_days": -1}, {"mode": "expanding"},
                                 {"test_days": 1.5}])
def test_bad_plans_are_refused(bad):
    with pytest.raises(ValueError):
        FoldPlan(**bad)
