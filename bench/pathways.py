"""Pathways scored against a synthetic world's hidden service effects, beside baselines.

    python bench/pathways.py --family coach|market --seed 1 [--participants 1500] [--vacancies 1500]
                             [--workdir /tmp/pathways] [--no-share-seats]

Generates the world (with its services, their outcome history and their hidden effects:
``ilona_match.synthetic.services``) into WORKDIR/FAMILY-SEED, then plans every participant's pathways
as the nightly job does (``pathways.tables.PathwayInputs``; AS_OF is the day after the last vacancy
outcome). Each participant's top-1 route is scored by its hidden gain: the chance of a hire after
following the route minus the chance before (``ServiceTruth.route_gain``). The same is done for
two baselines drawn from the same steps the person could take (``PathwayInputs.steps_open_to``:
hard constraints, seats, dates, reach): the most popular one (most people started it before AS_OF)
and a random one; and for the best single step by hidden gain (an oracle, for scale), also chosen
blind to the providers (every provider's hidden quality and drop-out rate set to the same value, the
choice scored with the real gain): what the hidden state of the people and the market allows without
knowing which providers are good. Seats aside, every person's step counts as if it had a seat for them;
with seats (``seated_gain_*``), a step that leads more people's top-1 routes than it has free seats
seats each of them with chance free / proposed. ``--no-share-seats`` plans each person as if nobody
else were offered the same steps.

One JSON line: mean hidden gain per system over the people with a route, the engine over each
baseline, the kinds of the engine's first steps and each kind's mean hidden gain over the (person, step)
pairs a person could take, the engine's two-step top routes against each of their steps alone, the share of people without any fitting open vacancy who got a route whenever a step was
open to them, the number of steps that break a hard limit (must be 0), and the seconds each part took.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit

from ilona_match.contract import load_data
from ilona_match.contract.constraints import ParticipantLimits, VacancyDemands, feasible, open_on
from ilona_match.pathways.effects import EffectsConfig
from ilona_match.pathways.planner import PathwayConfig
from ilona_match.pathways.tables import PathwayInputs
from ilona_match.synthetic.services import ServiceTruth, load_service_truth
from ilona_match.text.taxonomy import Taxonomy
from ilona_match.training import default_as_of


def _world(family: str, seed: int, participants: int, vacancies: int, folder: Path) -> None:
    if family == "coach":
        from ilona_match.synthetic import generate_world

        generate_world(folder, participants=participants, vacancies=vacancies, seed=seed)
    else:
        from ilona_match.synthetic.market import generate_market_world

        generate_market_world(folder, participants=participants, vacancies=vacancies, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=("coach", "market"), required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--participants", type=int, default=1500)
    parser.add_argument("--vacancies", type=int, default=1500)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/pathways"))
    parser.add_argument("--no-share-seats", action="store_true",
                        help="plan each person's routes as if nobody else were offered the same steps")
    parser.add_argument("--prior-strength", type=float, default=None,
                        help="pathways.effects.prior_strength (pseudo-people of the prior behind each learned effect)")
    args = parser.parse_args()

    folder = args.workdir / f"{args.family}-{args.seed}"
    started = time.perf_counter()
    _world(args.family, args.seed, args.participants, args.vacancies, folder)
    generated = time.perf_counter() - started

    bundle = load_data(folder, tables=("participants", "vacancies", "services", "outcomes"))
    as_of = default_as_of(bundle)
    taxonomy = Taxonomy.load()
    started = time.perf_counter()
    effects = EffectsConfig() if args.prior_strength is None else EffectsConfig(prior_strength=args.prior_strength)
    config = PathwayConfig(share_seats=not args.no_share_seats, effects=effects)
    inputs = PathwayInputs(bundle.vacancies, bundle.outcomes, bundle.services, bundle.service_outcomes, as_of, taxonomy,
                           config)
    routes = inputs.plan(bundle.participants)
    planned = time.perf_counter() - started
    participants = bundle.participants.reset_index(drop=True)
    can_take = inputs.steps_open_to(participants)
    service_ids = bundle.services["service_id"].to_numpy(dtype=object)

    # the baselines, from the same steps each person could take
    starts = bundle.service_outcomes[(bundle.service_outcomes["event"] == "started")
                                     & (bundle.service_outcomes["event_date"] < pd.Timestamp(as_of))]
    popularity = starts["service_id"].value_counts().reindex(service_ids).fillna(0).to_numpy()
    rng = np.random.default_rng(args.seed)
    top1 = routes[routes["rank"] == 1].set_index("participant_id")["steps"]
    judged = [i for i, pid in enumerate(participants["participant_id"]) if pid in top1.index]
    ids = participants["participant_id"].to_numpy(dtype=object)[judged]
    popular = [(service_ids[np.flatnonzero(can_take[i])[np.argmax(popularity[can_take[i]])]],) for i in judged]
    random_pick = [(service_ids[rng.choice(np.flatnonzero(can_take[i]))],) for i in judged]

    truth = load_service_truth(folder)
    started = time.perf_counter()
    gain = {
        "engine": truth.route_gain(ids, [tuple(top1[pid]) for pid in ids], as_of),
        "popular": truth.route_gain(ids, popular, as_of),
        "random": truth.route_gain(ids, random_pick, as_of),
    }
    # the oracles: each person's best single step they could take, by its hidden gain; and the same
    # choice made blind to the providers (every provider's hidden quality 1 and drop-out base the mean),
    # scored with the real gain: how much of the oracle's edge is knowing the providers
    blind = ServiceTruth(truth.world, dataclasses.replace(
        truth.services, quality=np.ones_like(truth.services.quality),
        dropout=np.full_like(truth.services.dropout, truth.services.dropout.mean())))
    best, best_blind, blind_pick = np.zeros(len(judged)), np.full(len(judged), -1.0), np.zeros(len(judged))
    kinds = bundle.services["kind"].to_numpy(dtype=object)
    by_kind: dict[str, list[float]] = {}
    for j in range(len(service_ids)):
        rows = np.flatnonzero(can_take[judged, j])
        if len(rows):
            steps = [(service_ids[j],)] * len(rows)
            real = truth.route_gain(ids[rows], steps, as_of)
            by_kind.setdefault(kinds[j], []).extend(real.tolist())
            best[rows] = np.maximum(best[rows], real)
            guess = blind.route_gain(ids[rows], steps, as_of)
            better = guess > best_blind[rows]
            best_blind[rows[better]], blind_pick[rows[better]] = guess[better], real[better]
    gain["oracle"] = best
    gain["oracle_blind_to_providers"] = blind_pick
    # what the engine picks, and its two-step routes against each of their steps alone
    kind_of = dict(zip(service_ids, kinds))
    engine_steps = [tuple(top1[pid]) for pid in ids]
    picked = pd.Series([kind_of[steps[0]] for steps in engine_steps]).value_counts(normalize=True)
    two = [i for i, steps in enumerate(engine_steps) if len(steps) == 2]
    alone = [truth.route_gain(ids[two], [(engine_steps[i][n],) for i in two], as_of) for n in (0, 1)] if two else []
    scored = time.perf_counter() - started

    # every step of every route is held to the person's hard limits
    limits = ParticipantLimits.from_frame(participants)
    services = bundle.services
    demands = VacancyDemands.from_frame(services.assign(published_at=services["starts_at"]))
    row_of = {pid: i for i, pid in enumerate(participants["participant_id"])}
    col_of = {sid: j for j, sid in enumerate(service_ids)}
    pairs = [(row_of[pid], col_of[s]) for pid, steps in zip(routes["participant_id"], routes["steps"]) for s in steps]
    p, s = (np.array(x, dtype=np.int64) for x in zip(*pairs)) if pairs else (np.zeros(0, np.int64),) * 2
    breaks = int((~feasible(limits, demands, p, s)).sum())

    # people no open vacancy fits: do they get a route whenever a step is open to them?
    jobs = VacancyDemands.from_frame(bundle.vacancies)
    open_rows = np.flatnonzero(open_on(jobs, as_of))
    fits_a_job = feasible(limits, jobs, np.arange(len(participants))[:, None], open_rows[None, :]).any(axis=1)
    stranded = ~fits_a_job & can_take.any(axis=1)
    served = np.isin(participants["participant_id"].to_numpy(dtype=object), routes["participant_id"].unique())
    # with seats: a step chosen as top-1 for more people than it has seats left seats only some of
    # them (each with chance free / chosen); the route's gain counts with that chance
    free = np.maximum(inputs.services.seats - inputs.seats_taken, 0).astype(np.float64)
    col = {sid: j for j, sid in enumerate(service_ids)}
    picks = {"engine": [tuple(top1[pid]) for pid in ids], "popular": popular, "random": random_pick}
    seated, crowded, most_led = {}, {}, {}
    for name, chosen in picks.items():
        steps = [[col[s] for s in route] for route in chosen]
        chosen_by = np.bincount([j for route in steps for j in route], minlength=len(free)).astype(np.float64)
        share = np.minimum(1.0, free / np.maximum(chosen_by, 1.0))
        seated[name] = float((gain[name] * np.array([share[route].min() for route in steps])).mean())
        crowded[name] = float(np.mean([bool((chosen_by[route] > free[route]).any()) for route in steps]))
        most_led[name] = [int(chosen_by.max()), int(free[np.argmax(chosen_by)])]
    means = {name: float(values.mean()) for name, values in gain.items()}
    emit({
        "family": args.family, "seed": args.seed, "share_seats": config.share_seats, "participants": len(participants), "services": len(service_ids),
        "service_outcomes": len(bundle.service_outcomes), "as_of": as_of.isoformat(),
        "people_with_route": len(judged), "routes": len(routes),
        "two_step_share": float((routes["steps"].map(len) == 2).mean()) if len(routes) else 0.0,
        **{f"gain_{name}": value for name, value in means.items()},
        "engine_over_popular": means["engine"] / means["popular"] if means["popular"] > 0 else float("nan"),
        "engine_over_random": means["engine"] / means["random"] if means["random"] > 0 else float("nan"),
        **{f"seated_gain_{name}": value for name, value in seated.items()},
        "seated_engine_over_popular": seated["engine"] / seated["popular"] if seated["popular"] > 0 else float("nan"),
        "seated_engine_over_random": seated["engine"] / seated["random"] if seated["random"] > 0 else float("nan"),
        "top1_over_free_seats_share": crowded, "top1_most_led_step_people_and_free_seats": most_led,
        "free_seats": int(free[inputs.services.joinable(as_of, inputs.config.horizon_days, free)].sum()),
        "engine_share_of_oracle": means["engine"] / means["oracle"] if means["oracle"] > 0 else float("nan"),
        "engine_first_step_kinds": {kind: round(float(share), 3) for kind, share in picked.items()},
        "mean_gain_of_a_step_by_kind": {kind: round(float(np.mean(v)), 4) for kind, v in sorted(by_kind.items())},
        "two_step_top_routes": len(two),
        "two_step_gain": float(gain["engine"][two].mean()) if two else float("nan"),
        "two_step_first_alone": float(alone[0].mean()) if two else float("nan"),
        "two_step_second_alone": float(alone[1].mean()) if two else float("nan"),
        "two_step_hidden_completion": [round(float(truth.completion_probability(
            ids[two], [engine_steps[i][n] for i in two]).mean()), 3) for n in (0, 1)] if two else [],
        "no_fitting_job_with_open_step": int(stranded.sum()),
        "of_them_with_route": int((stranded & served).sum()),
        "steps_breaking_a_hard_limit": breaks,
        "seconds_generate": generated, "seconds_plan": planned, "seconds_hidden": scored,
    })


if __name__ == "__main__":
    main()
