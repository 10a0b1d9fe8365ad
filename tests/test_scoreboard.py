import json

import pytest

from course_lib.scoreboard import (
    collect_results,
    format_scoreboard,
    record_claim,
    verdict_from_interval,
    write_results,
)


@pytest.mark.parametrize(
    'low,high,threshold,verdict',
    [
        (0.1, 2.0, 0.0, 'supported'),
        (-2.0, -0.1, 0.0, 'contradicted'),
        (-0.1, 0.1, 0.0, 'inconclusive'),
        (0.0, 1.0, 0.0, 'inconclusive'),  # touching the threshold is not beyond it
        (0.61, 0.7, 0.6, 'supported'),
        (0.5, 0.59, 0.6, 'contradicted'),
    ],
)
def test_the_verdict_follows_the_interval(low, high, threshold, verdict):
    assert verdict_from_interval(low, high, threshold) == verdict


@pytest.mark.parametrize('low,high', [(1.0, 0.0), (float('nan'), 1.0), (0.0, float('inf'))])
def test_a_malformed_interval_is_refused(low, high):
    with pytest.raises(ValueError, match='interval'):
        verdict_from_interval(low, high)


def test_a_verdict_must_agree_with_its_interval(monkeypatch):
    monkeypatch.delenv('COURSE_RESULTS_DIR', raising=False)
    with pytest.raises(ValueError, match='disagrees with its interval'):
        record_claim('01_x', 'A beats B', 0.5, -1.0, 2.0, verdict='supported')
    with pytest.raises(ValueError, match='inside its interval'):
        record_claim('01_x', 'A beats B', 3.0, -1.0, 2.0)
    with pytest.raises(ValueError, match='needs a `detail`'):
        record_claim('01_x', 'a timing', 0.06, 0.05, 0.07, verdict='flagged')
    with pytest.raises(ValueError, match='verdict must be one of'):
        record_claim('01_x', 'A beats B', 0.5, 0.1, 2.0, verdict='true')
    assert (
        record_claim('01_x', 'a timing', 0.06, 0.05, 0.07, verdict='flagged', detail='faster than pixels')['verdict']
        == 'flagged'
    )


def test_claims_reach_the_results_file_only_when_a_run_asks(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('COURSE_RESULTS_DIR', raising=False)
    record_claim('01_x', 'not collected', 1.0, 0.5, 1.5)
    assert not (tmp_path / 'claims').exists()
    monkeypatch.setenv('COURSE_RESULTS_DIR', str(tmp_path / 'claims'))
    record_claim('01_x', 'A beats B', 2.0, 1.0, 3.0, unit=' pp')
    record_claim('01_x', 'A beats B', 2.5, 1.5, 3.5, unit=' pp')  # the same claim recorded again replaces it
    record_claim('02_y', 'C helps', 0.1, -0.2, 0.4)
    assert '[supported] A beats B: 2.5 pp' in capsys.readouterr().out
    (tmp_path / 'claims' / '03_broken.json').write_text('{not json')
    res = json.loads(write_results(tmp_path, 'tiny', machine='a test box').read_text())
    assert res['scale'] == 'tiny' and res['machine'] == 'a test box' and res['written']
    assert [r['value'] for r in res['lessons']['01_x']] == [2.5]
    assert res['lessons']['02_y'][0]['verdict'] == 'inconclusive'
    assert any('03_broken.json' in n for n in res['notes'])
    board = format_scoreboard(res)
    assert 'tiny scale; a test box' in board and '01_x' in board and '02_y' in board
    assert '1 inconclusive, 1 supported' in board and 'unreadable' in board
    assert collect_results(tmp_path / 'nothing') == {'lessons': {}, 'notes': []}
    assert '(no claims recorded)' in format_scoreboard({'scale': 'small', 'lessons': {}})
