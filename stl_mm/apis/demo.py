"""The stl_mm demo: STL end to end on generated data, on a CPU, in minutes.

``tools/run_demo.py`` is its command line (stages and options are described
there and in docs/demo.md). :class:`Demo` runs the stages in this process:
data (:func:`stl_mm.datasets.demo_data.make_demo_data`, the texture-class
set), corrupted copies
(:func:`stl_mm.robustness.corrupted_dataset.write_corrupted_dataset`), the
three trainings (:func:`stl_mm.engine.run_train`), the evaluations
(:func:`stl_mm.engine.run_test`, with per-image predictions for the paired
bootstrap of :func:`stl_mm.evaluation.paired_stats.paired_bootstrap`) and
the token-label figures
(:func:`stl_mm.apis.token_labels.visualize_token_labels`). The equivalent
``tools/train.py`` / ``tools/test.py`` command lines are printed and saved in
``summary.json``. Needs a source checkout (configs/ next to the package).
"""
import argparse
import contextlib
import copy
import datetime
import glob
import hashlib
import json
import math
import os
import os.path as osp
import pickle
import resource
import shutil
import time
from typing import Dict, List, Optional

from mmengine.config import Config

from stl_mm.datasets.demo_data import make_demo_data
from stl_mm.engine import run_test, run_train
from stl_mm.evaluation.paired_stats import paired_bootstrap
from stl_mm.robustness.corrupted_dataset import write_corrupted_dataset
from .inference import init_model
from .model_zoo import CONFIG_ROOT
from .token_labels import (describe_token_label_stats,
                           visualize_token_labels)

__all__ = ['Demo', 'DEFAULTS', 'QUICK', 'CONFIGS']

REPO = str(CONFIG_ROOT.parent)

CONFIGS = dict(
    token_labeler=osp.join(REPO,
                           'configs/stl/demo/fan_demo128_token_labeler.py'),
    stl_student=osp.join(REPO, 'configs/stl/demo/fan_demo128_student.py'),
    baseline=osp.join(REPO, 'configs/stl/demo/fan_demo128_baseline.py'),
)
MODEL_TITLES = dict(
    token_labeler='token labeler (phase 1, the teacher)',
    stl_student='STL student (phase 2)',
    baseline='baseline (no token labels)',
)

# Default budget (measured in docs/demo.md) and the --quick one.
DEFAULTS = dict(train_per_class=300, val_per_class=128, epochs=9,
                labeler_epochs=15,
                corruptions=['gaussian_noise', 'defocus_blur', 'motion_blur',
                             'fog', 'contrast', 'pixelate',
                             'jpeg_compression'],
                severities=[3], vis_images=4)
QUICK = dict(train_per_class=8, val_per_class=4, epochs=1, labeler_epochs=1,
             corruptions=['gaussian_noise', 'fog'], severities=[3],
             vis_images=2)
BATCH_SIZE = 16  # train_dataloader.batch_size of the demo configs
NUM_CLASSES = 4
IMG_SIZE = 128  # 8x8 tokens of 16x16 pixels
# the comparisons of the summary: (model, reference)
COMPARISONS = [('stl_student', 'baseline'),
               ('stl_student:cls_plus_max', 'baseline')]
# the targets for the phase-1 token labels (docs/demo.md)
TOKEN_TARGETS = dict(object_image_class=0.85, confidence_auc=0.8)

# Cost model of the ETA, in seconds (2-core CPU without bf16): a training
# stage's set-up, per training iteration (refined after phase 1) and its
# factor per stage (the student also runs the teacher), per evaluation
# (set-up) and per evaluated image, per figure, per generated / corrupted
# image.
COST = dict(start=3., iter=0.17, student=1.3, baseline=1.0, eval=5.0,
            eval_image=0.0055, figure=1.5, data=1. / 140, corrupt=1. / 400)

STAGES = [
    ('data', 'Generating the demo data'),
    ('corrupt', 'Writing corrupted copies of the val split'),
    ('token_labeler', 'Training the token labeler (STL phase 1)'),
    ('stl_student', 'Training the STL student (phase 2, token labels from '
     'the frozen phase-1 teacher)'),
    ('baseline', 'Training the baseline student (image labels only, same '
     'budget)'),
    ('evaluate', 'Evaluating on the clean and corrupted val sets'),
    ('visualize', 'Drawing token labels'),
]


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------
def fmt_time(seconds: float) -> str:
    seconds = int(round(max(seconds, 0)))
    return f'{seconds // 60}:{seconds % 60:02d}'


def read_json(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path: str, data) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=2)
        f.write('\n')
    os.replace(tmp, path)


def file_digest(path: str) -> str:
    """Content hash of a config and the files it inherits from (so that a
    changed recipe retrains)."""
    digest = hashlib.sha256()
    config_dirs = [osp.join(REPO, 'configs/stl/demo'),
                   osp.join(REPO, 'configs/_base_')]
    for folder in config_dirs:
        for root, _, files in sorted(os.walk(folder)):
            for name in sorted(files):
                if name.endswith('.py') and ('demo' in name or 'runtime' in
                                             name or root == folder):
                    with open(osp.join(root, name), 'rb') as f:
                        digest.update(name.encode() + f.read())
    with open(path, 'rb') as f:
        digest.update(f.read())
    return digest.hexdigest()[:16]


def correct_per_image(pickle_file: str) -> Dict[str, int]:
    """``{image path: 1 | 0}`` (top-1 correct) from the predictions that
    :func:`stl_mm.engine.run_test` dumped."""
    with open(pickle_file, 'rb') as f:
        samples = pickle.load(f)
    return {s['img_path']: int(int(s['pred_label']) == int(s['gt_label']))
            for s in samples}


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (the
    corruption writers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _image_key(img_path: str) -> str:
    """``<class>/<file>``: the same for an image and its corrupted copies."""
    return '/'.join(osp.normpath(img_path).split(os.sep)[-2:])


# ---------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------
class Demo:

    def __init__(self, args):
        self.args = args
        self.work_dir = args.work_dir
        self.cls_root = osp.join(args.data_root, 'cls')
        self.corrupt_root = osp.join(args.data_root, 'cls-c')
        self.sets = [('clean', None)] + [
            (f'{c}-{s}', osp.join(self.corrupt_root, c, str(s)))
            for c in args.corruptions for s in args.severities
        ]
        self.iters_per_epoch = math.ceil(
            NUM_CLASSES * args.train_per_class / BATCH_SIZE)
        self.iters = self.iters_per_epoch * args.epochs
        self.labeler_iters = self.iters_per_epoch * args.labeler_epochs
        self.cost = dict(COST)
        self.start = time.time()
        self.summary = dict(
            started=datetime.datetime.now().isoformat(timespec='seconds'),
            settings=dict(
                work_dir=self.work_dir, data_root=args.data_root,
                train_per_class=args.train_per_class,
                val_per_class=args.val_per_class, epochs=args.epochs,
                labeler_epochs=args.labeler_epochs,
                iterations_per_stage=self.iters,
                labeler_iterations=self.labeler_iters, batch_size=BATCH_SIZE,
                img_size=IMG_SIZE, num_classes=NUM_CLASSES,
                threads=args.threads, corruptions=list(args.corruptions),
                severities=list(args.severities), quick=args.quick,
                force=args.force),
            configs={k: osp.relpath(v, REPO) for k, v in CONFIGS.items()},
            stages={}, stages_info={}, checkpoints={}, commands={},
            metrics={})

    # ---------------------------------------------------------------- ETA
    @staticmethod
    def _evals() -> List[tuple]:
        """(model, head fusion, all val sets or the clean one only) of each
        evaluation run. The teacher is compared with nobody on the
        corrupted sets; its clean accuracy is kept for the table."""
        return [('baseline', 'cls', True), ('stl_student', 'cls', True),
                ('stl_student', 'cls_plus_max', True),
                ('token_labeler', 'cls', False)]

    def budget(self, stage: str) -> float:
        a, c = self.args, self.cost
        images = NUM_CLASSES * (a.train_per_class + a.val_per_class)
        val = NUM_CLASSES * a.val_per_class
        if stage == 'data':
            return 1. + images * c['data']
        if stage == 'corrupt':
            return c['start'] + len(self.sets[1:]) * NUM_CLASSES * \
                a.val_per_class * c['corrupt']
        if stage == 'token_labeler':
            return c['start'] + self.labeler_iters * c['iter']
        if stage == 'stl_student':
            return c['start'] + self.iters * c['iter'] * c['student']
        if stage == 'baseline':
            return c['start'] + self.iters * c['iter'] * c['baseline']
        if stage == 'evaluate':
            return sum(c['eval'] + (len(self.sets) if every else 1) * val *
                       c['eval_image'] for _, _, every in self._evals())
        if stage == 'visualize':
            return 3. + 2 * (a.vis_images + 1) * c['figure'] + \
                2 * val * c['eval_image']
        raise KeyError(stage)

    def header(self, index: int) -> None:
        key, title = STAGES[index]
        elapsed = time.time() - self.start
        left = sum(self.budget(k) for k, _ in STAGES[index:])
        print(f'\n{"=" * 78}\n[{index + 1}/{len(STAGES)}] {title} ...\n'
              f'    elapsed {fmt_time(elapsed)}, estimated time left '
              f'~{fmt_time(left)} (this stage ~'
              f'{fmt_time(self.budget(key))})\n{"=" * 78}', flush=True)

    def record(self, stage: str, seconds: float, skipped: bool = False,
               **extra) -> None:
        self.summary['stages'][stage] = dict(wall_time_s=round(seconds, 2),
                                             skipped=skipped, **extra)
        self.save_summary()

    def save_summary(self) -> None:
        self.summary['total_wall_time_s'] = round(time.time() - self.start,
                                                  2)
        write_json(osp.join(self.work_dir, 'summary.json'), self.summary)

    # -------------------------------------------------------------- stages
    def stage_data(self) -> None:
        a = self.args
        result = make_demo_data(a.data_root, tasks=['cls'],
                                num_classes=NUM_CLASSES,
                                train_per_class=a.train_per_class,
                                val_per_class=a.val_per_class,
                                img_size=IMG_SIZE, seed=0, force=a.force,
                                cls_style='texture', workers=a.workers)
        self.data_params = read_json(osp.join(
            a.data_root, 'demo_data.json'))['tasks']['cls']['params']
        return result['cls'] == 'skipped'

    def stage_corrupt(self) -> bool:
        a = self.args
        stamp_file = osp.join(self.corrupt_root, 'demo_source.json')
        stamp = dict(source=self.data_params)
        old = read_json(stamp_file)
        if old is not None and old.get('source') != self.data_params:
            print(f'{self.corrupt_root} was made from other demo data; '
                  'rewriting it')
            shutil.rmtree(self.corrupt_root)
        elif (old is None or a.force) and osp.isdir(self.corrupt_root):
            shutil.rmtree(self.corrupt_root)  # (--force: write them anew)
        expected = NUM_CLASSES * a.val_per_class
        missing = [name for name, root in self.sets[1:]
                   if not self._complete(root, expected)]
        if not missing and not a.force:
            print(f'all {len(self.sets) - 1} corrupted copies exist in '
                  f'{self.corrupt_root}; skipped')
            return True
        cmd = ['python', 'tools/make_corrupted_dataset.py',
               osp.join(self.cls_root, 'val'), self.corrupt_root,
               '--layout', 'imagefolder', '--corruptions', *a.corruptions,
               '--severities', *map(str, a.severities), '-j',
               str(a.workers)]
        print(f'$ {" ".join(cmd)}', flush=True)  # what this stage does
        report = write_corrupted_dataset(
            osp.join(self.cls_root, 'val'), self.corrupt_root,
            a.corruptions, sorted(set(a.severities)), layout='imagefolder',
            workers=a.workers, log=lambda line: print(line, flush=True))
        if report.status:
            raise RuntimeError(
                'writing the corrupted copies failed: ' +
                '; '.join((report.failed + report.unreadable)[:5]))
        print(f'wrote {report.written} files in {report.seconds:.1f}s, '
              f'kept {report.existing} existing.')
        self.summary['commands']['corrupt'] = ' '.join(cmd)
        write_json(stamp_file, stamp)
        return False

    @staticmethod
    def _complete(root: str, expected: int) -> bool:
        if not osp.isdir(root):
            return False
        count = sum(len([f for f in files if not f.startswith('.')])
                    for _, _, files in os.walk(root))
        return count >= expected

    def data_options(self) -> List[str]:
        return [f'{loader}_dataloader.dataset.data_root={self.cls_root}'
                for loader in ('train', 'val', 'test')]

    def epochs_of(self, stage: str) -> int:
        return (self.args.labeler_epochs if stage == 'token_labeler' else
                self.args.epochs)

    def train_options(self, stage: str) -> List[str]:
        e = self.epochs_of(stage)
        # no validation while training: the evaluation stage tests every
        # model on all val sets anyway (saves ~5 s per stage)
        opts = [f'train_cfg.max_epochs={e}',
                f'train_cfg.val_interval={e}', f'train_cfg.val_begin={e + 1}',
                f'default_hooks.checkpoint.interval={e}']
        if e >= 2:
            opts.append(f'param_scheduler.1.end={e}')
        else:  # one epoch: warm-up then hold (the cosine part never starts)
            opts.append('param_scheduler.1.end=2')
        return opts

    def stage_train(self, stage: str) -> bool:
        a = self.args
        work = osp.join(self.work_dir, stage)
        checkpoint = osp.join(work, f'epoch_{self.epochs_of(stage)}.pth')
        iters = self.iters_per_epoch * self.epochs_of(stage)
        opts = self.data_options() + self.train_options(stage)
        if stage == 'stl_student':
            teacher = self.summary['checkpoints']['token_labeler']
            opts.append(f'model.teacher.checkpoint={teacher}')
        settings = dict(config=CONFIGS[stage],
                        config_digest=file_digest(CONFIGS[stage]),
                        options=opts, data=self.data_params)
        if stage == 'stl_student':
            settings['teacher_finished'] = read_json(osp.join(
                self.work_dir, 'token_labeler',
                'demo_stage.json'))['finished']
        stamp_file = osp.join(work, 'demo_stage.json')
        stamp = read_json(stamp_file)
        self.summary['checkpoints'][stage] = checkpoint
        # what a user would type for this stage
        cmd = ['python', 'tools/train.py', osp.relpath(CONFIGS[stage], REPO),
               '--work-dir', work, '--cfg-options', *opts]
        self.summary['commands'][stage] = ' '.join(cmd)
        if (not a.force and stamp is not None and osp.isfile(checkpoint)
                and stamp.get('settings') == settings):
            print(f'{checkpoint} exists and was trained with these '
                  'settings; skipped (--force retrains)')
            self.summary['stages_info'][stage] = stamp.get('timing', {})
            return True
        if osp.isdir(work):
            shutil.rmtree(work)
        print(f'(the same as: {" ".join(cmd)})', flush=True)
        cfg = Config.fromfile(CONFIGS[stage])
        cfg.merge_from_dict(_options(opts))
        cfg.work_dir = work
        cfg.experiment_name = f'demo_{stage}_' + datetime.datetime.now(
        ).strftime('%Y%m%d_%H%M%S_%f')
        started, cpu = time.time(), time.process_time()
        run_train(cfg)
        if not osp.isfile(checkpoint):
            raise RuntimeError(f'training finished without writing '
                               f'{checkpoint}')
        seconds = time.time() - started
        timing = dict(wall_time_s=round(seconds, 2),
                      cpu_time_s=round(time.process_time() - cpu, 2),
                      iterations=iters,
                      wall_s_per_iter=round(seconds / max(iters, 1), 4))
        self.summary['stages_info'][stage] = timing
        write_json(stamp_file, dict(
            settings=settings, timing=timing,
            finished=datetime.datetime.now().isoformat()))
        if stage == 'token_labeler' and iters:
            # refine the ETA of the later stages with the measured speed
            self.cost['iter'] = max(
                (seconds - self.cost['start']) / iters, 0.01)
        return False

    def _test_sets(self, cfg: Config, sets: List[tuple]) -> None:
        """Replace the test set of ``cfg`` by the val ``sets`` at once
        (``(name, root)``: clean and corrupted copies, one
        ``ConcatDataset``): one Runner per model instead of one per set."""
        val_ann = osp.join(self.cls_root, 'meta', 'val.txt')
        base = cfg.test_dataloader.dataset
        datasets = []
        for _, root in sets:
            d = copy.deepcopy(base)
            if root is None:
                d.update(data_root=self.cls_root)
            else:
                d.update(data_root=root, data_prefix='', ann_file=val_ann)
            datasets.append(d)
        cfg.test_dataloader.dataset = dict(type='ConcatDataset',
                                           datasets=datasets)

    def _set_of(self, img_path: str) -> str:
        roots = [(osp.join(self.cls_root, 'val') if root is None else root,
                  name) for name, root in self.sets]
        for root, name in sorted(roots, key=lambda r: -len(r[0])):
            if osp.abspath(img_path).startswith(root + os.sep):
                return name
        raise RuntimeError(f'{img_path} is in none of the val sets')

    def stage_evaluate(self) -> bool:
        cache_file = osp.join(self.work_dir, 'eval', 'results.json')
        cache = {} if self.args.force else (read_json(cache_file) or {})
        results, new_cache = {}, {}
        skipped = True
        runs = self._evals()
        for n, (model, fusion, every) in enumerate(runs, 1):
            sets = self.sets if every else self.sets[:1]
            set_names = [name for name, _ in sets]
            checkpoint = self.summary['checkpoints'][model]
            name = model if fusion == 'cls' else f'{model}:{fusion}'
            opts = ['log_level=WARNING']
            if model == 'stl_student':
                opts.append('model.teacher.checkpoint=' +
                            self.summary['checkpoints']['token_labeler'])
            if fusion != 'cls':
                opts.append(f'model.head.fusion={fusion}')
            key = json.dumps([checkpoint, os.stat(checkpoint).st_mtime,
                              opts, sets], sort_keys=True)
            work = osp.join(self.work_dir, 'eval', name.replace(':', '-'))
            cached = cache.get(name)
            started = time.time()
            if cached is not None and cached.get('key') == key:
                per_set = cached['correct']
                how = 'cached'
            else:
                skipped = False
                cfg = Config.fromfile(CONFIGS[model])
                cfg.merge_from_dict(_options(opts))
                self._test_sets(cfg, sets)
                os.makedirs(work, exist_ok=True)
                dump = osp.join(work, 'predictions.pkl')
                # the runner's messages go to a file, results below
                with open(osp.join(work, 'test_stdout.log'), 'w') as log, \
                        contextlib.redirect_stdout(log):
                    run_test(cfg, checkpoint, work_dir=work,
                             dump_predictions=dump,
                             experiment_name=f'demo_eval_'
                             f'{name.replace(":", "_")}_' +
                             datetime.datetime.now().strftime('%H%M%S_%f'))
                per_set = {s: {} for s in set_names}
                for img_path, hit in correct_per_image(dump).items():
                    set_name = self._set_of(img_path)
                    per_set[set_name][_image_key(img_path)] = hit
                how = f'{time.time() - started:.1f} s'
            new_cache[name] = dict(key=key, correct=per_set)
            for set_name in set_names:
                hits = per_set[set_name]
                top1 = 100. * sum(hits.values()) / max(len(hits), 1)
                results[f'{name}/{set_name}'] = dict(top1=top1,
                                                     correct=hits)
            clean = results[f'{name}/clean']['top1']
            plural = 's' if len(set_names) > 1 else ''
            print(f'  [{n}/{len(runs)}] {name:<26} {len(set_names)} set{plural} x '
                  f'{len(per_set["clean"])} images: clean top-1 '
                  f'{clean:6.2f} %  ({how})', flush=True)
        write_json(cache_file, new_cache)
        self.summary['metrics'] = self._tables(results)
        self.summary['comparisons'] = self._comparisons(results)
        return skipped

    def _tables(self, results: Dict[str, dict]) -> dict:
        metrics = {}
        names = ['baseline', 'stl_student', 'stl_student:cls_plus_max',
                 'token_labeler']
        for name in names:
            per_set = {s: results[f'{name}/{s}']['top1'] for s, _ in
                       self.sets if f'{name}/{s}' in results}
            corrupted = [v for s, v in per_set.items() if s != 'clean']
            metrics[name] = dict(
                clean_top1=per_set.get('clean'),
                corrupted_mean_top1=(sum(corrupted) / len(corrupted)
                                     if corrupted else None),
                corrupted_top1={s: v for s, v in per_set.items()
                                if s != 'clean'})
        return metrics

    def _comparisons(self, results: Dict[str, dict]) -> dict:
        """Paired bootstrap over val images (10000 resamples, 95 %) of the
        clean and the corrupted-mean top-1 gain of each comparison."""
        out = {}
        corrupted = [s for s, _ in self.sets[1:]]
        for model, ref in COMPARISONS:
            entry = {}
            for title, sets in (('clean', ['clean']),
                                ('corrupted_mean', corrupted)):
                if not sets:
                    continue
                rows_a, rows_b = [], []
                for set_name in sets:
                    a = results[f'{ref}/{set_name}']['correct']
                    b = results[f'{model}/{set_name}']['correct']
                    if set(a) != set(b):
                        raise RuntimeError(
                            f'{model} and {ref} were evaluated on different '
                            f'images of {set_name}')
                    images = sorted(a)
                    rows_a.append([a[i] for i in images])
                    rows_b.append([b[i] for i in images])
                entry[title] = paired_bootstrap(rows_a, rows_b, seed=0)
            out[f'{model} vs {ref}'] = entry
        return out

    def stage_visualize(self) -> bool:
        out_dir = osp.join(self.work_dir, 'token_labels')
        classes = sorted(os.listdir(osp.join(self.cls_root, 'val')))
        val_images = sorted(glob.glob(osp.join(self.cls_root, 'val', '*',
                                               '*.png')))
        # the first val images of each class, round robin
        chosen, per_class = [], [sorted(glob.glob(osp.join(
            self.cls_root, 'val', c, '*.png'))) for c in classes]
        i = 0
        while len(chosen) < min(self.args.vis_images, len(val_images)):
            files = per_class[i % len(classes)]
            if i // len(classes) < len(files):
                chosen.append(files[i // len(classes)])
            i += 1
        self.summary['token_labels'] = {}
        for model_name in ('token_labeler', 'stl_student'):
            model = init_model(CONFIGS[model_name],
                               self.summary['checkpoints'][model_name])
            title = MODEL_TITLES[model_name]
            # statistics and histogram over all val images, figures of the
            # chosen ones
            result = visualize_token_labels(
                model, val_images, out_dir, tau=1.0, seed=0,
                prefix=f'{model_name}_', title=title, draw=chosen,
                histogram_title=f'{title}: token confidences, '
                f'{len(val_images)} val images',
                confidence_threshold='median')
            self.summary['token_labels'][model_name] = result
            print(f'  {title}: {describe_token_label_stats(result["stats"])}')
            for path in result['figures'] + [result['histogram']]:
                print(f'    wrote {path}')
        self.summary['token_label_targets'] = self._token_targets()
        return False

    def _token_targets(self) -> dict:
        """The phase-1 teacher's token labels against the issue's targets
        (docs/demo.md)."""
        stats = self.summary['token_labels']['token_labeler']['stats']
        out = {}
        for key, target in TOKEN_TARGETS.items():
            value = stats.get(key)
            out[key] = dict(value=value, target=target,
                            met=value is not None and value >= target)
        return out

    # ----------------------------------------------------------------- run
    def run(self) -> dict:
        a = self.args
        os.makedirs(self.work_dir, exist_ok=True)
        print(f'stl_mm demo: work dir {self.work_dir}, data {a.data_root}\n'
              f'  {NUM_CLASSES} classes x {a.train_per_class} train / '
              f'{a.val_per_class} val images ({IMG_SIZE}x{IMG_SIZE}, '
              f'{IMG_SIZE // 16}x{IMG_SIZE // 16} tokens); token labeler '
              f'{a.labeler_epochs} epochs = {self.labeler_iters} iterations, '
              f'students {a.epochs} epochs = {self.iters} iterations of '
              f'batch {BATCH_SIZE}; {len(self.sets) - 1} corrupted val '
              'copies',
              flush=True)
        for index, (key, _) in enumerate(STAGES):
            self.header(index)
            started, cpu = time.time(), _cpu_seconds()
            if key in ('token_labeler', 'stl_student', 'baseline'):
                skipped = self.stage_train(key)
            else:
                skipped = getattr(self, f'stage_{key}')()
            # CPU time too: on a shared machine the wall time says little
            self.record(key, time.time() - started, skipped=bool(skipped),
                        cpu_time_s=round(_cpu_seconds() - cpu, 2))
        self.summary['finished'] = datetime.datetime.now().isoformat(
            timespec='seconds')
        self.save_summary()
        print('\n' + self.results_table())
        cpu = sum(v.get('cpu_time_s', 0.)
                  for v in self.summary['stages'].values())
        self.summary['total_cpu_time_s'] = round(cpu, 2)
        self.save_summary()
        print(f'\nTotal wall time {fmt_time(time.time() - self.start)} '
              f'(CPU time of the stages {fmt_time(cpu)}); '
              f'summary: {osp.join(self.work_dir, "summary.json")}')
        return self.summary

    def results_table(self) -> str:
        m = self.summary['metrics']
        cols = [('baseline', 'baseline'), ('stl_student', 'STL'),
                ('stl_student:cls_plus_max', 'STL cls+max'),
                ('token_labeler', 'teacher')]
        a = self.args
        lines = [
            f'Top-1 accuracy (%) on the demo val split ({NUM_CLASSES} x '
            f'{a.val_per_class} images); corrupted copies at severity '
            f'{"/".join(map(str, a.severities))}.',
            'baseline = student trained on image labels only; STL = student '
            'trained with token labels',
            '(both: same architecture, data, augmentation and '
            f'{self.iters} iterations); STL cls+max = STL scored with '
            'cls + 0.5 * max over tokens;',
            'teacher = the phase-1 token labeler.', '',
            '| val set | ' + ' | '.join(t for _, t in cols) + ' |',
            '|---|' + '---:|' * len(cols)]

        def row(title, values):
            cells = ['—' if v is None else f'{v:.2f}' for v in values]
            return f'| {title} | ' + ' | '.join(cells) + ' |'

        lines.append(row('clean', [m[k]['clean_top1'] for k, _ in cols]))
        lines.append(row('**corrupted mean**',
                         [m[k]['corrupted_mean_top1'] for k, _ in cols]))
        for set_name, _ in self.sets[1:]:
            lines.append(row(set_name, [m[k]['corrupted_top1'].get(set_name)
                                        for k, _ in cols]))
        comparisons = self.summary.get('comparisons', {})
        if comparisons:
            lines += ['', 'Top-1 gain over the baseline (points) with a 95 % '
                      'paired bootstrap interval over the '
                      f'{NUM_CLASSES * a.val_per_class} val images (10000 '
                      'resamples; an image keeps its corrupted copies '
                      'together):']
            for title, entry in comparisons.items():
                for set_title, c in entry.items():
                    lines.append(
                        f'  {title:<36} {set_title:<15} {c["gain"]:+6.2f} '
                        f'[{c["low"]:+6.2f}, {c["high"]:+6.2f}]  (share of '
                        f'resamples <= 0: {c["p_not_better"]:.3f})')
        stats = self.summary.get('token_labels', {})
        if stats:
            lines += ['', 'Token labels on the val images (tokens whose '
                      'area is >= 50 % object / has no object pixel):']
            for name, info in stats.items():
                lines.append(f'  {MODEL_TITLES[name]}: '
                             f'{describe_token_label_stats(info["stats"])}')
        targets = self.summary.get('token_label_targets', {})
        if targets:
            cells = []
            for key, t in targets.items():
                value = '-' if t['value'] is None else f'{t["value"]:.3f}'
                cells.append(f'{key} {value} (target >= {t["target"]}: '
                             f'{"met" if t["met"] else "NOT met"})')
            lines.append('  phase-1 teacher vs the targets: ' +
                         '; '.join(cells))
        return '\n'.join(lines)


def _options(pairs: List[str]) -> dict:
    """``key=value`` strings -> a dict for ``Config.merge_from_dict``
    (values parsed as ``--cfg-options`` parses them)."""
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *pairs]).cfg_options
