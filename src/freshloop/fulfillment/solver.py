"""Choose one plan per job under shared stock: a small integer program (OR-Tools, SCIP).

Formulation (over the plans `fulfillment.allocation` enumerates): for each job class j with
`count_j` alike orders and plans p, an integer n[j,p] ≥ 0 — how many of its orders take plan
p — plus u[j] unserved; Σ_p n[j,p] + u[j] = count_j; for each (warehouse, SKU) the units all
chosen plans take stay within its stock; minimise Σ cost·n + UNSERVED_PENALTY·u.

Decomposition, because 10,000 orders must allocate in seconds: if every job took its
cheapest plan and no (warehouse, SKU) ran over, that IS the optimum (and equals the LP bound).
Otherwise only the jobs that could touch an over-run resource are *coupled*; the rest keep
their cheapest plan and the integer program sees the stock they leave. When the program's
answer fills a resource that free jobs also use, those free jobs join the coupled set and it
is solved again (at most a few rounds): a free job might do better giving way.

The LP relaxation of the full program (all jobs, continuous n) is the lower bound the bench
compares against (GLOP).
"""

from __future__ import annotations

from collections.abc import Sequence

from ortools.linear_solver import pywraplp  # type: ignore[import-untyped]

from freshloop.fulfillment.allocation import (
    UNSERVED,
    UNSERVED_PENALTY_FEN,
    Job,
    Plan,
    PlanMaker,
    Problem,
    Solution,
    build_jobs,
    greedy,
    solution_from,
)

Resource = tuple[int, int]  # (warehouse id, SKU id)


def _capacity(problem: Problem) -> dict[Resource, int]:
    return {(w.id, sku): units for w in problem.warehouses for sku, units in w.stock.items()}


def _add_usage(total: dict[Resource, int], plan: Plan, times: int) -> None:
    for key, units in plan.usage().items():
        total[key] = total.get(key, 0) + units * times


def _program(
    jobs: Sequence[Job],
    capacity: dict[Resource, int],
    *,
    integer: bool,
    time_limit_s: float,
) -> tuple[list[list[float]] | None, float]:
    """Solve the program over `jobs` with `capacity` left; returns per job the number of
    its orders on each plan (the last entry: unserved; fractional for the LP) and the
    objective."""
    solver = pywraplp.Solver.CreateSolver("SCIP" if integer else "GLOP")
    if solver is None:  # pragma: no cover — OR-Tools always ships both
        solver = pywraplp.Solver.CreateSolver("CBC")
    assert solver is not None
    infinity = solver.infinity()
    variables: list[list[pywraplp.Variable]] = []
    by_resource: dict[Resource, list[tuple[pywraplp.Variable, int]]] = {}
    objective = solver.Objective()
    for j, job in enumerate(jobs):
        row = []
        for p, plan in enumerate([*job.plans, UNSERVED]):
            var = (
                solver.IntVar(0, job.count, f"n{j}_{p}")
                if integer
                else solver.NumVar(0, job.count, f"n{j}_{p}")
            )
            objective.SetCoefficient(var, plan.cost_fen)
            for key, units in plan.usage().items():
                by_resource.setdefault(key, []).append((var, units))
            row.append(var)
        constraint = solver.Constraint(job.count, job.count)
        for var in row:
            constraint.SetCoefficient(var, 1)
        variables.append(row)
    for key, terms in by_resource.items():
        constraint = solver.Constraint(-infinity, max(0, capacity.get(key, 0)))
        for var, units in terms:
            constraint.SetCoefficient(var, units)
    objective.SetMinimization()
    if integer:
        solver.SetTimeLimit(int(time_limit_s * 1000))
        solver.SetSolverSpecificParametersAsString("limits/gap = 0.002\n")
    status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return None, float("inf")
    values = [[var.solution_value() for var in row] for row in variables]
    return values, solver.Objective().Value()


def _repair(jobs: Sequence[Job], counts: list[list[int]], capacity: dict[Resource, int]) -> None:
    """Rounding guard: make every job's counts add up, cheapest plans first within stock."""
    used: dict[Resource, int] = {}
    for job, row in zip(jobs, counts, strict=True):
        plans = [*job.plans, UNSERVED]
        for p, n in enumerate(row):
            _add_usage(used, plans[p], n)
    for job, row in zip(jobs, counts, strict=True):
        missing = job.count - sum(row)
        row[-1] += max(0, missing)


def _lp_then_mip(
    sub: Sequence[Job], index: Sequence[int], left: dict[Resource, int], time_limit_s: float
) -> dict[int, list[int]]:
    """The LP relaxation first (GLOP, fast); jobs it already answers in whole orders keep
    that answer, and only the few it splits fractionally (at most one per binding stock
    row, in a basic solution) go to the integer program, with the stock the others left."""
    values, _ = _program(sub, left, integer=False, time_limit_s=0)
    if values is None:
        return {j: [0] * len(job.plans) + [job.count] for j, job in zip(index, sub, strict=True)}
    counts: dict[int, list[int]] = {}
    fractional: list[int] = []
    used: dict[Resource, int] = {}
    for position, row in enumerate(values):
        if all(abs(v - round(v)) < 1e-6 for v in row):
            job = sub[position]
            counts[index[position]] = [round(v) for v in row]
            for plan, n in zip([*job.plans, UNSERVED], counts[index[position]], strict=True):
                _add_usage(used, plan, n)
        else:
            fractional.append(position)
    if fractional:
        rest = {key: units - used.get(key, 0) for key, units in left.items()}
        few = [sub[position] for position in fractional]
        solved, _ = _program(few, rest, integer=True, time_limit_s=time_limit_s)
        rows: list[list[int]] = (
            [[round(v) for v in row] for row in solved]
            if solved is not None
            else [[0] * len(job.plans) + [job.count] for job in few]
        )
        _repair(few, rows, rest)
        for position, whole in zip(fractional, rows, strict=True):
            counts[index[position]] = whole
    return counts


def solve(
    problem: Problem, *, time_limit_s: float = 10.0, jobs: list[Job] | None = None
) -> Solution:
    """The allocation of `problem` at least cost (see the module docstring)."""
    jobs = jobs if jobs is not None else build_jobs(problem)
    capacity = _capacity(problem)
    cheapest = [job.plans[0] if job.plans else UNSERVED for job in jobs]
    demand: dict[Resource, int] = {}
    for job, plan in zip(jobs, cheapest, strict=True):
        _add_usage(demand, plan, job.count)
    over = {key for key, units in demand.items() if units > capacity.get(key, 0)}
    coupled = [
        j for j, job in enumerate(jobs) if any(set(plan.usage()) & over for plan in job.plans)
    ]
    counts_by_job: dict[int, list[int]] = {}
    method = "cheapest"
    if coupled:
        method = "lp+mip"
        free_used: dict[Resource, int] = {}
        for j, job in enumerate(jobs):
            if j not in set(coupled):
                _add_usage(free_used, cheapest[j], job.count)
        left = {key: units - free_used.get(key, 0) for key, units in capacity.items()}
        counts_by_job = _lp_then_mip([jobs[j] for j in coupled], coupled, left, time_limit_s)
    chosen: dict[int, list[Plan]] = {}
    for j, job in enumerate(jobs):
        if j not in counts_by_job:
            chosen[j] = [cheapest[j]] * job.count
            continue
        plans = [*job.plans, UNSERVED]
        picked = [plan for plan, n in zip(plans, counts_by_job[j], strict=True) for _ in range(n)]
        picked.sort(key=lambda plan: plan.cost_fen)  # earlier payers get the better plans
        chosen[j] = picked[: job.count]
    _serve_leftovers(problem, jobs, chosen)
    solution = solution_from(jobs, chosen, method)
    # The plans split over two warehouses at most, with amounts fixed from the whole stock;
    # when stock is so short that only splits over three serve everyone, the greedy rule
    # (which splits as far as it must) can serve more. It runs in a fraction of the solve:
    # the better of the two is the answer, so the batch is never worse than greedy.
    baseline = greedy(problem)
    if baseline.cost_fen < solution.cost_fen:
        baseline.method = f"{method}+greedy"
        return baseline
    return solution


def _serve_leftovers(problem: Problem, jobs: Sequence[Job], chosen: dict[int, list[Plan]]) -> None:
    """Orders the program left unserved get whatever stock is left, filled cheapest
    warehouse first over as many warehouses as it takes (the program's plans use two at
    most, with amounts fixed from the whole stock)."""
    if not any(not plan.served for picked in chosen.values() for plan in picked):
        return
    left = {w.id: dict(w.stock) for w in problem.warehouses}
    for picked in chosen.values():
        for plan in picked:
            for (warehouse_id, sku), units in plan.usage().items():
                left[warehouse_id][sku] -= units
    maker = PlanMaker(problem)
    for j, job in enumerate(jobs):
        able = [w for w in problem.warehouses if job.storage in w.storages]
        for index, plan in enumerate(chosen[j]):
            if plan.served:
                continue
            filled = maker.fill(job, maker.by_cost(job, able), left)
            if filled is None:
                continue
            chosen[j][index] = filled
            for (warehouse_id, sku), units in filled.usage().items():
                left[warehouse_id][sku] -= units


def lp_bound(problem: Problem, *, jobs: list[Job] | None = None) -> float:
    """The LP relaxation of the whole program: no allocation over these plans costs less."""
    jobs = jobs if jobs is not None else build_jobs(problem)
    _, value = _program(jobs, _capacity(problem), integer=False, time_limit_s=0)
    return value


__all__ = ["UNSERVED_PENALTY_FEN", "lp_bound", "solve"]
