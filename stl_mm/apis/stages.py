"""A small stage runner for multi-step workflows: headers with elapsed time
and ETA, and skipping of finished stages.

Each :class:`Stage` has a key, a title, the function that runs it, an
estimate of its duration (seconds; a callable is asked again at every
header, so later estimates can use measured speeds), the ``settings`` it
depends on and the ``outputs`` it must leave. :class:`StageRunner` records
each finished stage in ``<work_dir>/stages.json`` (settings, wall time, end
time); a rerun skips a stage whose settings are unchanged, whose outputs
exist and whose dependencies were not rerun, unless ``force``.
"""
import datetime
import json
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

__all__ = ['Stage', 'StageRunner', 'fmt_time']


def fmt_time(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on)."""
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    if hours:
        return f'{hours}:{rest // 60:02d}:{rest % 60:02d}'
    return f'{rest // 60}:{rest % 60:02d}'


@dataclass
class Stage:
    """One step of a workflow.

    Attributes:
        key: identifier (the record's name in ``stages.json``).
        title: what the header says.
        run: the work; its return value (JSON-able, or None) is recorded
            as ``result`` and handed back on skipped reruns.
        estimate: expected seconds (a number or a callable).
        settings: what the stage's result depends on (JSON-able); a change
            reruns it.
        outputs: files or folders that must exist for a skip (callables
            are evaluated at check time).
        depends: keys of earlier stages; rerunning one reruns this one.
    """
    key: str
    title: str
    run: Callable[[], Any]
    estimate: Union[float, Callable[[], float]] = 0.
    settings: Any = None
    outputs: Sequence[Union[str, Callable[[], str]]] = ()
    depends: Sequence[str] = field(default_factory=tuple)

    def seconds(self) -> float:
        return float(self.estimate() if callable(self.estimate)
                     else self.estimate)


class StageRunner:
    """Run stages in order with headers, records and skipping.

    Args:
        work_dir: where ``stages.json`` is kept.
        stages: the stages, in order.
        force: rerun every stage.
        log: printing function.
    """

    def __init__(self, work_dir: str, stages: Sequence[Stage],
                 force: bool = False, log: Callable[[str], None] = None):
        self.work_dir = work_dir
        self.stages: List[Stage] = list(stages)
        self.force = force
        self.log = log or (lambda line: print(line, flush=True))
        self.state_file = osp.join(work_dir, 'stages.json')
        self.records: Dict[str, dict] = self._load()
        self.start = time.time()
        self.rerun: set = set()

    def _load(self) -> Dict[str, dict]:
        try:
            with open(self.state_file, encoding='utf-8') as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        os.makedirs(self.work_dir, exist_ok=True)
        tmp = self.state_file + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(self.records, f, indent=2, ensure_ascii=False)
            f.write('\n')
        os.replace(tmp, self.state_file)

    def header(self, index: int) -> str:
        """The banner of stage ``index``: number, title, elapsed time, the
        estimate of what is left and of this stage."""
        stage = self.stages[index]
        left = sum(s.seconds() for s in self.stages[index:])
        line = '=' * 78
        return (f'\n{line}\n[{index + 1}/{len(self.stages)}] {stage.title} '
                f'...\n    elapsed {fmt_time(time.time() - self.start)}, '
                f'estimated time left ~{fmt_time(left)} (this stage ~'
                f'{fmt_time(stage.seconds())})\n{line}')

    def finished(self, stage: Stage) -> bool:
        """Whether ``stage`` can be skipped."""
        record = self.records.get(stage.key)
        if self.force or record is None:
            return False
        if record.get('settings') != _jsonable(stage.settings):
            return False
        if any(dep in self.rerun for dep in stage.depends):
            return False
        if any(record.get('depends', {}).get(dep) !=
               self.records.get(dep, {}).get('finished')
               for dep in stage.depends):
            return False
        return all(osp.exists(p() if callable(p) else p)
                   for p in stage.outputs)

    def run(self) -> Dict[str, Any]:
        """Run (or skip) every stage; returns ``{key: result}``."""
        results = {}
        for index, stage in enumerate(self.stages):
            self.log(self.header(index))
            if self.finished(stage):
                self.log(f'{stage.title}: done in an earlier run with the '
                         'same settings; skipped (--force reruns it)')
                results[stage.key] = self.records[stage.key].get('result')
                continue
            started = time.time()
            result = stage.run()
            results[stage.key] = result
            self.rerun.add(stage.key)
            self.records[stage.key] = dict(
                settings=_jsonable(stage.settings),
                wall_time_s=round(time.time() - started, 2),
                finished=datetime.datetime.now().isoformat(
                    timespec='microseconds'),
                depends={dep: self.records.get(dep, {}).get('finished')
                         for dep in stage.depends},
                result=_jsonable(result))
            self._save()
        return results

    def wall_time(self, key: str) -> Optional[float]:
        """Recorded wall time of a finished stage."""
        return self.records.get(key, {}).get('wall_time_s')


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))
