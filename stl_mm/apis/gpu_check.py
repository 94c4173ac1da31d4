"""The one table of ``tools/gpu_check.sh``: CUDA parity tests, benchmark
rows and the demo STL phase 2, from the files the script's stages wrote.

    python -m stl_mm.apis.gpu_check STAGES_TSV

``STAGES_TSV`` has one line per stage: ``name<TAB>exit status<TAB>seconds
<TAB>kind<TAB>path`` with kind ``pytest`` (a JUnit XML file), ``bench`` (a
``tools/benchmark.py --json`` file), ``train`` (an mmengine work dir) or
``none`` (status only).
"""
import glob
import json
import os.path as osp
import statistics
import sys
import xml.etree.ElementTree as ET

__all__ = ['read_stages', 'gpu_check_table']


def read_stages(path):
    """The stages of ``STAGES_TSV`` as dicts (name, status, seconds, kind,
    path)."""
    stages = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            name, status, seconds, kind, target = line.rstrip('\n').split(
                '\t')
            stages.append(dict(name=name, status=int(status),
                               seconds=float(seconds), kind=kind,
                               path=target))
    return stages


def _pytest_lines(path):
    if not osp.isfile(path):
        return ['no test report']
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == 'testsuite' else list(root)
    count = {k: sum(int(s.get(k, 0)) for s in suites)
             for k in ('tests', 'failures', 'errors', 'skipped')}
    ran = count['tests'] - count['skipped']
    lines = [f'{ran} ran, {count["failures"] + count["errors"]} failed, '
             f'{count["skipped"]} skipped']
    for case in root.iter('testcase'):
        if case.find('failure') is not None or case.find('error') is not None:
            lines.append(f'FAILED {case.get("name")}')
    return lines


def _bench_lines(path):
    if not osp.isfile(path):
        return ['no benchmark report']
    report = json.loads(open(path).read())
    ref_name = report.get('reference')
    peaks = report.get('gemm_peak_gmac_s', {})
    lines = [f'batch {report["batch_size"]}, {report["img_size"]}px, '
             f'{report["device"]}, GEMM peak GMAC/s: ' + ', '.join(
                 f'{k} {v:.0f}' for k, v in peaks.items())]
    results = report['results']
    for r in results.values():
        mode = 'compiled' if r.get('compiled') else 'eager'
        ref = results.get(f'{ref_name}|{r["amp"]}|{mode}')
        ratio = ''
        if ref and ref is not r:
            ratio = (f' ({r["train_img_s"] / ref["train_img_s"]:.2f}x / '
                     f'{r["infer_img_s"] / ref["infer_img_s"]:.2f}x '
                     f'{ref_name})')
        extra = ''
        if r.get('compile_s') is not None:
            extra = f', first step {r["compile_s"]:.0f} s'
        peak = peaks.get(r['amp'])
        eff = ''
        if peak and 'infer_gmac_s' in r:
            eff = f', infer {100 * r["infer_gmac_s"] / peak:.0f} % of peak'
        lines.append(f'{r["model"]} {r["amp"]} {mode}: train '
                     f'{r["train_img_s"]:.1f} img/s, infer '
                     f'{r["infer_img_s"]:.1f} img/s{ratio}, '
                     f'{r["peak_mem_mb"]:.0f} MB{eff}{extra}')
    return lines


def _train_lines(work_dir):
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        return ['no training log']
    records = [json.loads(line) for line in open(files[-1])
               if line.strip()]
    train = [r for r in records if 'loss' in r]
    if not train:
        return ['no training iterations logged']
    times = [r['time'] for r in train if 'time' in r]
    last = train[-1]
    line = (f'{last.get("iter", "?")} iterations logged, last loss '
            f'{last["loss"]:.4f}')
    if times:
        line += f', {statistics.median(times):.3f} s/iter (median)'
    return [line]


_KINDS = {'pytest': _pytest_lines, 'bench': _bench_lines,
          'train': _train_lines, 'none': lambda path: ['']}


def gpu_check_table(stages) -> str:
    """One table: a line per stage (status, seconds) and its results."""
    width = max([len(s['name']) for s in stages] + [5])
    lines = [f'{"stage":{width}s}  {"status":6s}  {"seconds":>7s}  result',
             '-' * (width + 60)]
    for stage in stages:
        status = 'ok' if stage['status'] == 0 else (
            'TIMEOUT' if stage['status'] == 124 else
            f'FAIL {stage["status"]}')
        results = _KINDS[stage['kind']](stage['path'])
        lines.append(f'{stage["name"]:{width}s}  {status:6s}  '
                     f'{stage["seconds"]:7.0f}  {results[0]}')
        lines += [f'{"":{width}s}  {"":6s}  {"":7s}  {r}' for r in results[1:]]
    total = sum(s['seconds'] for s in stages)
    ok = all(s['status'] == 0 for s in stages)
    lines.append('-' * (width + 60))
    lines.append(f'{"total":{width}s}  {"ok" if ok else "FAIL":6s}  '
                 f'{total:7.0f}')
    return '\n'.join(lines)


if __name__ == '__main__':
    stages = read_stages(sys.argv[1])
    print(gpu_check_table(stages))
    sys.exit(0 if all(s['status'] == 0 for s in stages) else 1)
