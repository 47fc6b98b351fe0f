"""``judgerl study homegrid-values``: seed 003's experiment end to end, resumable stage by stage.

Stages (each skipped when ``state.json`` records it done and its artifact exists):

1. ``naive``: PPO on the task reward → ``naive_agent.zip``.
2. ``sample``: ``sample.episodes`` episodes of the naive policy → ``episodes.npz``.
3. ``label``: episode verdicts through ``CachedJudge`` into ``labels.sqlite``
   (preflight against ground truth first; random or active selection; a random
   held-out test set) → ``selection.json``.
4. ``classifier``: the episode classifier on the usable verdicts → ``classifier.pt``.
5. ``feedback``: PPO on task reward + w × classifier term → ``feedback_agent.zip``.
6. ``eval``: both policies on ``eval.episodes`` episodes of ground truth.
7. ``report``: GIFs, ``study.json``, ``report_extra.html``, ``report.html``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from judgerl.evaluation.logger import MetricsLogger
from judgerl.study.config import StudyConfig, dump_study_config
from judgerl.study.episodes import EpisodeBank, LazyGrids
from judgerl.study.labelling import StudyStopped, Verdicts, active_rounds, buy, preflight_metrics

STAGES = ("naive", "sample", "label", "classifier", "feedback", "eval", "report")


class _State:
    """``state.json``: finished stages and their numbers (written atomically after each stage)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "state.json"
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {"done": {}}

    def done(self, stage: str, artifact: Path | None = None) -> bool:
        return stage in self.data["done"] and (artifact is None or artifact.exists())

    def finish(self, stage: str, numbers: dict[str, Any]) -> None:
        self.data["done"][stage] = numbers
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=float))
        tmp.replace(self.path)

    def numbers(self, stage: str) -> dict[str, Any]:
        return dict(self.data["done"].get(stage, {}))


def _homegrid_task() -> Any:
    from judgerl.tasks import get_task
    from judgerl.tasks.homegrid import register

    register()
    return get_task("homegrid/cat-values-v0")


def _split(cfg: StudyConfig, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Random held-out test episodes, the training pool in random order, and the training budget."""
    perm = np.random.default_rng(cfg.seed + 1).permutation(n)
    budget_basis = cfg.labels.budget if cfg.labels.budget is not None else n
    n_test = min(cfg.labels.max_test, int(round(cfg.labels.test_fraction * budget_basis)), n - 1)
    test, pool = perm[:n_test], perm[n_test:]
    budget = len(pool) if cfg.labels.budget is None else min(cfg.labels.budget, len(pool))
    return test, pool, budget


def _fit_cfg(cfg: StudyConfig) -> Any:
    from judgerl.reward.episode_classifier import VerdictFitConfig

    c = cfg.classifier
    return VerdictFitConfig(
        lr=c.lr,
        weight_decay=c.weight_decay,
        epochs=c.epochs,
        batch_size=c.batch_size,
        val_fraction=c.val_fraction,
        patience=c.patience,
    )


def _ensemble(cfg: StudyConfig, k: int, seed: int) -> Any:
    from judgerl.reward.episode_classifier_ensemble import EpisodeClassifierEnsemble

    c = cfg.classifier
    return EpisodeClassifierEnsemble.create(k, (12, 14, 4), hidden=c.hidden, channels=c.channels, seed=seed)


def _stage_label(cfg: StudyConfig, run_dir: Path, bank: EpisodeBank, log: MetricsLogger) -> tuple[Verdicts, dict]:
    """Buy (or re-read from the store, for free) every verdict of the study."""
    from judgerl.judges.factory import make_judge
    from judgerl.labels.cached import CachedJudge, carry_spending
    from judgerl.labels.store import LabelStore

    task = _homegrid_task()
    store = LabelStore(run_dir / "labels.sqlite", fsync=cfg.judge.type not in ("oracle",))
    judge = make_judge(cfg.judge, task, cfg.seed)
    carry_spending(judge, store)
    cached = CachedJudge(judge, store)
    frame_size = cfg.sample.frame_size if cfg.sample.frames else None
    held = Verdicts({})
    t0 = time.perf_counter()

    def buy_fn(idx: np.ndarray, iteration: int = 0) -> None:
        buy(cached, task, bank, idx, held, cfg.sample.chunk, frame_size, iteration)
        log.log(len(held.labels), {"study/labels_held": float(len(held.labels)), **cached.stats()}, "label")

    test, pool, budget = _split(cfg, len(bank))
    sel_path = run_dir / "selection.json"
    pre = pool[: min(cfg.labels.preflight, budget)]
    numbers: dict[str, Any] = {}
    if len(pre):
        buy_fn(pre)
        numbers = preflight_metrics(held, pre, bank, cfg.judge.type)
        log.log(0, numbers, "preflight")
        auc = numbers["study/preflight_auc"]
        if auc == auc and auc < cfg.labels.min_preflight_auc and not cfg.labels.force:
            store.close()
            raise StudyStopped(
                f"the {cfg.judge.type} judge ranks episodes against ground truth with AUC {auc:.2f} "
                f"(< labels.min_preflight_auc={cfg.labels.min_preflight_auc}; 0.5 = chance, < 0.5 = inverted) "
                f"and agreement {numbers['study/preflight_agreement']:.2f} on {len(pre)} episodes: it would "
                "train the agent on noise or on the opposite of its verdicts. Use another judge (gguf, oracle, "
                "openai) or set labels.force=true to go on anyway."
            )
    if sel_path.exists():
        train_idx = np.array(json.loads(sel_path.read_text())["train"], dtype=np.int64)
        buy_fn(train_idx)
    elif cfg.labels.selection == "random":
        buy_fn(pool[:budget])
    else:
        rounds = active_rounds(
            buy_fn,
            held,
            bank,
            pool,
            budget,
            cfg.labels.rounds,
            cfg.judge.type,
            lambda r: _ensemble(cfg, cfg.classifier.active_members, cfg.seed + 100 * r),
            _fit_cfg(cfg),
            np.random.default_rng(cfg.seed + 2),
        )
        for r in rounds:
            log.log(int(r["study/active_round"]), r, "active")
    train_idx = np.array([i for i in pool if int(i) in held.labels], dtype=np.int64)
    buy_fn(test, iteration=1)
    sel_path.write_text(json.dumps({"train": train_idx.tolist(), "test": test.tolist()}))
    stats = {**store.stats(cached.id), **cached.stats()}
    store.close()
    numbers.update(_judge_numbers(held, bank, cfg, train_idx, test))
    numbers["judge/cost_usd"] = stats.get("judge/cost_usd", 0.0)
    numbers["study/judge_calls_this_run"] = stats.get("judge/calls", 0.0)
    numbers["study/label_seconds"] = time.perf_counter() - t0
    return held, numbers


def _judge_numbers(
    held: Verdicts, bank: EpisodeBank, cfg: StudyConfig, train: np.ndarray, test: np.ndarray
) -> dict[str, Any]:
    from judgerl.reward.episode_classifier import binary_auc

    idx = np.array(sorted(held.labels), dtype=np.int64)
    v, raw = held.arrays(idx, cfg.judge.type)
    ok = np.isfinite(v)
    harmed = bank.harmed[idx]
    truth = (~harmed).astype(np.float64)
    n_ok = max(int(ok.sum()), 1)
    return {
        "study/judge_type": cfg.judge.type,
        "study/judge_calls": float(len(idx)),
        "study/judge_calls_train": float(len(train)),
        "study/test_episodes": float(len(test)),
        "study/verdicts_ok": float(ok.sum()),
        "study/verdicts_unusable": float((~ok).sum()),
        "study/judge_agreement": float((v[ok] == truth[ok]).mean()) if ok.any() else float("nan"),
        "study/judge_auc": binary_auc(raw[ok], truth[ok]) if ok.sum() > 1 else float("nan"),
        "study/judge_false_aligned_per_10k": float(((v == 1.0) & harmed).sum() / n_ok * 1e4),
        "study/judge_false_not_aligned_per_10k": float(((v == 0.0) & ~harmed).sum() / n_ok * 1e4),
        "study/judge_yes_rate": float(v[ok].mean()) if ok.any() else float("nan"),
        "study/pool_harmed_rate": float(bank.harmed.mean()),
        "study/judged_length_mean": float(bank.lengths()[idx].mean()) if len(idx) else 0.0,
    }


def _stage_classifier(cfg: StudyConfig, run_dir: Path, bank: EpisodeBank, held: Verdicts) -> dict[str, Any]:
    """Fit the reward classifier on usable training verdicts; accuracy on held-out verdicts and truth."""
    from judgerl.reward.episode_classifier_ensemble import EpisodeClassifierEnsemble  # noqa: F401

    sel = json.loads((run_dir / "selection.json").read_text())
    train, test = np.array(sel["train"], np.int64), np.array(sel["test"], np.int64)
    v_train, _ = held.arrays(train, cfg.judge.type)
    ok = np.isfinite(v_train)
    t0 = time.perf_counter()
    ens = _ensemble(cfg, cfg.classifier.members, cfg.seed + 7)
    metrics = ens.fit(
        LazyGrids(bank, train[ok]), v_train[ok].astype(np.float32), _fit_cfg(cfg), np.random.default_rng(cfg.seed + 3)
    )
    ens.save(run_dir / "classifier.pt")
    out: dict[str, Any] = dict(metrics)
    out["study/classifier_fit_seconds"] = time.perf_counter() - t0
    out["study/classifier_train_episodes"] = float(ok.sum())
    if len(test):
        v_test, _ = held.arrays(test, cfg.judge.type)
        p = ens.predict_episodes(LazyGrids(bank, test)) > 0.5
        ok_t = np.isfinite(v_test)
        out["study/classifier_test_acc_verdicts"] = (
            float((p[ok_t] == (v_test[ok_t] > 0.5)).mean()) if ok_t.any() else float("nan")
        )
        out["study/classifier_test_acc_truth"] = float((p == ~bank.harmed[test]).mean())
    labelled = set(train.tolist()) | set(test.tolist())
    rest = np.array([i for i in range(len(bank)) if i not in labelled], dtype=np.int64)
    if len(rest):
        rest = np.random.default_rng(cfg.seed + 4).permutation(rest)[:3000]
        p = ens.predict_episodes(LazyGrids(bank, rest)) > 0.5
        out["study/classifier_pool_acc_truth"] = float((p == ~bank.harmed[rest]).mean())
    return out


def _stage_feedback(cfg: StudyConfig, run_dir: Path) -> dict[str, Any]:
    """Train the feedback agent on task reward + w × classifier term."""
    from stable_baselines3 import PPO

    from judgerl.agents.sb3 import quiet
    from judgerl.envs.homegrid_policy import homegrid_ppo_defaults
    from judgerl.envs.homegrid_vec import HomegridSB3VecEnv
    from judgerl.reward.episode_classifier_ensemble import EpisodeClassifierEnsemble
    from judgerl.study.shaping import ClassifierRewardVecEnv

    f = cfg.feedback
    ens = EpisodeClassifierEnsemble.load(run_dir / "classifier.pt")
    env = ClassifierRewardVecEnv(HomegridSB3VecEnv(f.n_envs, seed=cfg.seed + 5), ens, f.weight, f.mode)
    t0 = time.perf_counter()
    if f.init == "naive":
        model = quiet(PPO.load(str(run_dir / "naive_agent.zip"), env=env, device="cpu", seed=cfg.seed + 5))
        model.ent_coef = f.ent_coef
    else:
        kwargs = {**homegrid_ppo_defaults(cfg.naive.cnn), "ent_coef": f.ent_coef}
        model = quiet(PPO("MlpPolicy", env, seed=cfg.seed + 5, device="cpu", verbose=0, **kwargs))
    model.learn(total_timesteps=f.timesteps)
    model.save(str(run_dir / "feedback_agent.zip"))
    return {"study/feedback_seconds": time.perf_counter() - t0}


def run_study(cfg: StudyConfig) -> Path:
    """Run (or resume) the whole study; returns the run directory.

    Raises:
        StudyStopped: The judge failed its preflight (and ``labels.force`` is off).
    """
    from stable_baselines3 import PPO

    from judgerl.envs.homegrid_policy import evaluate_facts, rollout_episodes, train_naive_policy

    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_study_config(cfg))
    torch.set_num_threads(cfg.threads)
    state = _State(run_dir)
    log = MetricsLogger(run_dir, stdout=True, tensorboard=False)
    t_start = time.perf_counter()

    naive_path = run_dir / "naive_agent.zip"
    if not state.done("naive", naive_path):
        t0 = time.perf_counter()
        model = train_naive_policy(cfg.naive.timesteps, seed=cfg.seed, n_envs=cfg.naive.n_envs, cnn=cfg.naive.cnn)
        model.save(str(naive_path))
        state.finish("naive", {"study/naive_seconds": time.perf_counter() - t0})
        log.log(0, state.numbers("naive"), "naive")

    bank_path = run_dir / "episodes.npz"
    if not state.done("sample", bank_path):
        naive = PPO.load(str(naive_path), device="cpu")
        grids, acts, harmed, reached = rollout_episodes(naive, cfg.sample.episodes, seed=cfg.seed + 1000)
        bank = EpisodeBank.from_rollouts(grids, acts, harmed, reached)
        del grids
        bank.save(bank_path)
        state.finish(
            "sample", {"study/pool_episodes": float(len(bank)), "study/pool_harmed_rate": float(harmed.mean())}
        )
        log.log(0, state.numbers("sample"), "sample")
    bank = EpisodeBank.load(bank_path)

    need_labels = not (state.done("classifier", run_dir / "classifier.pt") and state.done("label"))
    held = Verdicts({})
    if need_labels:
        held, numbers = _stage_label(cfg, run_dir, bank, log)
        state.finish("label", numbers)
        log.log(0, {k: v for k, v in numbers.items() if not isinstance(v, str)}, "label")
    if not state.done("classifier", run_dir / "classifier.pt"):
        state.finish("classifier", _stage_classifier(cfg, run_dir, bank, held))
        log.log(0, state.numbers("classifier"), "classifier")
    if not state.done("feedback", run_dir / "feedback_agent.zip"):
        state.finish("feedback", _stage_feedback(cfg, run_dir))
        log.log(0, state.numbers("feedback"), "feedback")
    if not state.done("eval"):
        ev: dict[str, Any] = {}
        for name in ("naive", "feedback"):
            model = PPO.load(str(run_dir / f"{name}_agent.zip"), device="cpu")
            ev[name] = evaluate_facts(
                model, cfg.eval.episodes, seed=cfg.seed + 12345, deterministic=cfg.eval.deterministic
            )
            log.log(0, {f"eval/{name}/{k.split('/', 1)[1]}": v for k, v in ev[name].items()}, "eval")
        state.finish("eval", ev)
    _report(cfg, run_dir, state, bank)
    log.log(0, {"study/total_seconds_this_invocation": time.perf_counter() - t_start}, "report")
    log.close()
    return run_dir


def _report(cfg: StudyConfig, run_dir: Path, state: _State, bank: EpisodeBank) -> None:
    """Write GIFs, ``study.json``, ``report_extra.html`` and ``report.html``; print the table."""
    from stable_baselines3 import PPO

    from judgerl.evaluation.report import write_report
    from judgerl.study.media import policy_frames, write_gif
    from judgerl.study.table import format_table, project_cost, table_html

    if cfg.eval.gif_episodes:
        for name in ("naive", "feedback"):
            gif = run_dir / "media" / f"{name}.gif"
            if not gif.exists():
                model = PPO.load(str(run_dir / f"{name}_agent.zip"), device="cpu")
                write_gif(policy_frames(model, cfg.eval.gif_episodes, cfg.seed + 777, cfg.eval.gif_tile), gif)
    judge = {**state.numbers("label"), **state.numbers("classifier")}
    calls = int(judge.get("study/judge_calls", 0))
    judge.update(project_cost(calls, float(judge.get("study/judged_length_mean", 0.0)), cfg.price, cfg.judge.keyframes))
    ev = state.numbers("eval")
    result = {
        "name": cfg.name,
        "seed": cfg.seed,
        "eval_episodes": cfg.eval.episodes,
        "naive": ev.get("naive", {}),
        "feedback": ev.get("feedback", {}),
        "judge": judge,
        "stages": state.data["done"],
        "config": cfg.model_dump(mode="json"),
    }
    (run_dir / "study.json").write_text(json.dumps(result, indent=2, default=float))
    (run_dir / "report_extra.html").write_text(table_html(result))
    (run_dir / "eval.json").write_text(
        json.dumps(
            {f"eval/{n}/{k.split('/', 1)[1]}": v for n in ("naive", "feedback") for k, v in ev.get(n, {}).items()}
        )
    )
    write_report(run_dir)
    state.finish("report", {"study/report": str(run_dir / "report.html")})
    print(format_table(result))
