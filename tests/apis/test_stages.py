"""The generic stage runner (stl_mm.apis.stages): headers with elapsed time
and ETA, records in stages.json, skipping of finished stages, reruns on
changed settings, rerun dependencies, missing outputs and --force."""
import json

from stl_mm.apis.stages import Stage, StageRunner, fmt_time


def make_stages(tmp_path, calls, settings='v1'):
    out_a, out_b = tmp_path / 'a.txt', tmp_path / 'b.txt'

    def run_a():
        calls.append('a')
        out_a.write_text('a')
        return dict(n=1)

    def run_b():
        calls.append('b')
        out_b.write_text('b')
        return 'done'

    return [Stage('a', 'Stage A', run_a, estimate=90., settings=settings,
                  outputs=[str(out_a)]),
            Stage('b', 'Stage B', run_b, estimate=lambda: 30.,
                  settings='fixed', outputs=[lambda: str(out_b)],
                  depends=['a'])]


def test_headers_records_and_skips(tmp_path):
    calls, lines = [], []
    runner = StageRunner(str(tmp_path), make_stages(tmp_path, calls),
                         log=lines.append)
    assert runner.run() == dict(a=dict(n=1), b='done')
    assert calls == ['a', 'b']
    assert '[1/2] Stage A ...' in lines[0]
    assert 'estimated time left ~2:00 (this stage ~1:30)' in lines[0]
    assert '[2/2] Stage B' in lines[1] and 'left ~0:30' in lines[1]
    records = json.loads((tmp_path / 'stages.json').read_text())
    assert records['a']['result'] == dict(n=1)
    assert records['b']['depends']['a'] == records['a']['finished']

    # same settings, outputs present: both skipped, results handed back
    lines.clear()
    again = StageRunner(str(tmp_path), make_stages(tmp_path, calls),
                        log=lines.append).run()
    assert calls == ['a', 'b'] and again == dict(a=dict(n=1), b='done')
    assert sum('skipped' in line for line in lines) == 2

    # a missing output reruns that stage only
    (tmp_path / 'b.txt').unlink()
    StageRunner(str(tmp_path), make_stages(tmp_path, calls),
                log=lines.append).run()
    assert calls == ['a', 'b', 'b']

    # changed settings of A rerun A and its dependent B
    StageRunner(str(tmp_path), make_stages(tmp_path, calls, 'v2'),
                log=lines.append).run()
    assert calls == ['a', 'b', 'b', 'a', 'b']

    # --force reruns everything
    StageRunner(str(tmp_path), make_stages(tmp_path, calls, 'v2'),
                force=True, log=lines.append).run()
    assert calls[-2:] == ['a', 'b']


def test_fmt_time():
    assert fmt_time(0) == '0:00' and fmt_time(61.4) == '1:01'
    assert fmt_time(3725) == '1:02:05' and fmt_time(-3) == '0:00'
