"""Every setting of the latent optimisation in one dataclass, :class:`OptimiseOptions` (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from cardiosr.errors import InputError
from cardiosr.optimise.stopping import StoppingRule
from cardiosr.option_fields import option

#: The starts of ``d`` (:attr:`OptimiseOptions.init_shifts`); :data:`cardiosr.optimise.init.INITIAL_SHIFTS` maps
#: each to its function.
INITIAL_SHIFT_NAMES = ("align", "centroid", "zero")


@dataclass(frozen=True, kw_only=True)
class OptimiseOptions:
    """Settings of :func:`latent_optimisation` (every beyond-the-paper step is an option).

    Attributes
    ----------
    lr_z, lr_d:
        Adam learning rates of the latent code and of the shifts (mm per step).
    max_iterations:
        Iteration cap of the latent search.
    window, tolerance:
        :class:`StoppingRule` (paper: 5 %).
    warm_start:
        Start ``z`` from the VAE encoder applied to the stack brought to the canonical grid, its slices
        moved back by the initial shifts (paper: ``z = 0``).
    init_shifts:
        ``'align'``: start ``d`` from :func:`cardiosr.slice_alignment.alignment_shifts` (the stack made as
        smooth as possible along the slice axis); ``'centroid'``: from :func:`centroid_shifts` (the LV
        centroids' deviation from a straight line, the default before; 7.7 against 4.6 mm RMS error on real
        hearts under severe motion, ``benchmarks/shift_estimates.py``); ``'zero'``: ``d = 0`` (paper).
    view_alignment:
        With long-axis views (and γ > 0): every shift estimate (``init_shifts``, ``second_estimate``) is
        corrected by where the slices cross the views (:func:`cardiosr.view_alignment.view_alignment_shifts`,
        the estimate kept where the views cannot tell): each view shows the heart where every slice crosses it,
        in one breath-hold, so the slices' shifts are read from it without the shape prior.
    restarts:
        Number of starts per subject; the lowest final loss is kept, and with 2 or more the spread of the
        results gives a per-voxel uncertainty map.
    restart_spread:
        Standard deviation of the random perturbation of ``z`` of restarts 2, 3, ... (latent units).
    refine:
        Run the data-consistency stage (:func:`refine_consistency`) after the latent search.
    refine_iterations, refine_lr, refine_weight, refine_grid:
        Its iteration cap, Adam learning rate, weight of the penalty that keeps the result near ``G(z)``,
        and the control-point grid ``(D, H, W)`` of its smooth residual.
    schedule:
        ``'joint'`` (Adam on ``z`` and ``d`` together, the default) or ``'reference'`` (the published
        procedure: ``reference_rounds`` = 500 rounds alternating a ``z`` step and a ``d`` step, lr 0.2 and
        0.1 voxel halved every 100 rounds, ``z = 0`` start, no stopping rule), kept as the benchmark baseline.
    seed:
        Seed of the restarts.
    shift_search:
        Optimise ``d`` with ``z`` (the paper's Algorithm 1). Off by default: ``d`` stays at its start
        (:func:`cardiosr.slice_alignment.alignment_shifts` with ``init_shifts='align'``), because with the
        shipped prior the joint search explains real anatomy that the prior cannot represent by invented
        shifts (measured in ``docs/benchmarks.md``, section *motion-fidelity*).
    motion_prior:
        λ of the MAP term ``λ·(−log p(d))`` (:func:`motion_prior_term`) added to Eq. 5 wherever ``d`` is
        searched (``shift_search``, and the searched hypothesis of the motion test); 0 is the paper.
    motion_test:
        Also fit the stack with ``d = 0`` (one more run in the batch, two with ``search_threshold``) and keep
        shifts only when they lower the loss enough (relative) over that fit: the data must support motion
        (beyond the paper). The searched hypothesis' loss includes its motion-prior term.
    motion_threshold:
        Smallest relative gain ``(L(d=0) − L(d*)) / L(d=0)`` of the fixed estimate that counts as motion.
    second_estimate:
        With the motion test and without ``shift_search``: also fit, in the same batch, the shifts of this
        start (one of ``INITIAL_SHIFTS``) kept fixed; the motion test's estimate is whichever of the two fixed
        fits reaches the lower loss (the slice alignment is the better start on real hearts under severe
        motion, the LV-centroid line on hearts with a straight LV axis; the loss tells them apart, measured
        in ``docs/benchmarks.md``, section *second-estimate*). The two race until the early decision
        (``decide_after``; without it, for one stopping-rule window); then the one with the higher loss
        stops. ``None`` (or equal to ``init_shifts``): one estimate.
    estimate_search:
        With the motion test (and ``decide_after``) and without ``shift_search``: once the test keeps the fixed
        estimate (its gain over ``d = 0`` exceeds τ, i.e. clear motion), that run goes on with its shifts free
        too, the joint search of ``z`` and ``d`` from the estimate with the motion prior at this λ (much smaller
        than ``motion_prior``, whose amplitudes are those of normal breathing); the data-consistency stage keeps
        the shifts it found. A cine does the same on its ED frame alone. The estimate alone leaves residual
        errors of several mm under severe motion that the search removes, while on stacks without clear motion
        it would invent shifts (section *motion-fidelity*), which the test rules out. Chosen on real anatomy and
        phantoms (``benchmarks/estimate_search.py``, section *estimate-search*). ``None``: the estimate stays
        fixed.
    search_threshold:
        With the motion test and without ``shift_search``: also fit a third hypothesis in the batch, the
        estimated shifts refined by the joint search of ``z`` and ``d`` with the motion prior, and keep it
        when the fixed estimate's gain is at most ``motion_threshold`` but the searched one's exceeds this
        (the joint search recovers normal breathing motion that the stack alone cannot, and drifts under
        severe motion, where the fixed estimate wins). ``None``: two hypotheses only.
    search_corroboration:
        With ``search_threshold``: the searched shifts are also kept when their relative gain is positive but at
        most τs, if the stack itself corroborates them: moved back by them, its interior slices are predicted
        from their neighbours by shape-based interpolation with a mean Dice higher by more than this margin than
        without shifts (:func:`~cardiosr.optimise.motion_test.stack_self_consistency`; a leave-one-slice-out check
        on data the loss never compares the shifts with). Sub-millimetre breathing on a real stack lowers the
        loss as little as a prior's misfit does on a still heart, but only the former makes the slices agree.
        The margin lies between the motion-free real stacks' gains at the decision (−0.010 and −0.003) and
        M&Ms-2's (+0.006 and +0.016); measured on every real case in section *real-data-corroboration*. A cine's
        motion test checks its key frames' stacks the same way. ``None``: τs alone decides (and
        ``corroborate_every_search`` has no margin to check).
    corroborate_every_search:
        Single stacks, with ``search_corroboration``: searched shifts whose relative gain exceeds τs are kept only
        when the stack does not contradict them, i.e. when the same leave-one-slice-out check gains more than that
        margin (else ``d = 0``). The gain of the searched hypothesis over ``d = 0`` is within the latent search's
        own scatter: with the same prior's latent space rotated at random (the same shapes, another path for
        Adam) the test kept 1.4 mm of invented motion on the motion-free Rodero stack under 2 of 3 rotations,
        below interpolation; the check rejects those shifts and changes no other stack of that protocol, with or
        without motion (``docs/benchmarks.md``, section *search-parametrisation*); on ACDC it sends 10 of 100
        stacks to ``d = 0``, a mean of −0.0002 (section *real-data-contradicted*). ``False``: a gain above τs
        suffices.
    decide_after:
        With the motion test: the iteration at which it decides, on the losses reached so far, and stops every
        other hypothesis of the subject (their states are kept, so the final test, on the kept states, decides
        the same); the chosen one goes on to the stopping rule. While the searched hypothesis leads, every
        hypothesis goes on and the test is made again every ``decide_after`` iterations. At least ``window``
        (the two fixed estimates race first). ``None``: every hypothesis runs to its own stop (slower; the
        decision then compares converged losses). The default was chosen on real anatomy
        (``docs/benchmarks.md``, section *early-decision*).
    temporal_weight:
        Cines only (:mod:`cardiosr.optimise.cycle`): λ_t of ``λ_t Σ_t ‖z_t − z_{t−1}‖²``, the smoothness of
        the latent codes of consecutive frames.
    cycle_window:
        Cines only: the stopping rule's ``window`` for the per-frame shape fit and data-consistency stage (the
        motion test on the key frames keeps ``window``). Every frame starts from the encoder and the frames are
        fitted together, so a shorter window than a single stack's loses nothing and saves time: 3 against 5
        gave the same mean Dice per frame and shift RMS on the benchmark cines and a 50-frame cine in a fifth
        less time (``docs/benchmarks.md``, sections *cycle-window* and *cycle-window-3*).
    view_trend:
        With long-axis views correcting the estimates: after the clear-motion search (a single stack's kept
        estimate searched on, a cine's on its ED frame), the linear trend along the slices of the shifts'
        components across a single view's lines (a tilt of the long axis across the view, which no short-axis
        slice tells from motion) is moved this far (0-1) from the search's towards the views' estimate's
        (:func:`cardiosr.optimise.init.blend_view_trend`). 0 keeps the search's, 1 takes the views' reading
        whole: measured on phantom 0 and the real biv-me heart with a four-chamber view per frame, it came
        nearer the truth than 0.5 in cines and single stacks alike, and single real stacks with one view and
        severe motion scored as high or higher on every heart of protocol (a) (``docs/cardiac-cycle.md``,
        *The views read the tilt better than the search*).
    fidelity:
        Weight of the prior between the slices in the final fusion with the motion-corrected stack
        (:func:`cardiosr.fidelity.fuse_with_stack`): 0 gives shape-based interpolation of the corrected
        stack inside its slab, 1 the prior midway; the acquired slices are always kept. ``None``: no fusion.
        The default 0.25 was chosen on real anatomy with the fusion as it now is (``benchmarks/fusion_weight.py``,
        section *fusion-weight-current*; 0.5 before), ``motion_threshold`` 0.25 too
        (``benchmarks/motion_fidelity.py``).
    rv_fidelity:
        ``fidelity`` for the RV blood pool (:func:`cardiosr.fidelity.structure_weights`). The prior's RV,
        learned from two real hearts and phantoms, is its least exact structure: the default 0 (inside the
        stack's slab the RV is the corrected stack's shape-based interpolation; outside it the prior's) was
        chosen on real anatomy (``benchmarks/fusion_rv.py``, section *fusion-rv*).
    absent_mm:
        In the fusion: the signed distance (mm) given to an acquired slice without a structure, at most the
        slice spacing (:func:`cardiosr.interpolation.signed_distance_slices`). Plain shape-based interpolation
        uses the slice spacing, so a structure ends well before the midway plane after its last slice; with
        5 mm a point 5 mm inside the structure on its last slice keeps it up to the midway plane, deeper points
        beyond, and the prior's weight decides the rest. The default 5 mm was chosen on real anatomy
        (``benchmarks/fusion_absent.py``, section *fusion-absent*): ACDC's 20 mm gaps 0.817 against 0.797 with
        the slice spacing (15 against 17 of 100 files below interpolation); on the 10 mm stacks of protocol (a)
        (where it is half the spacing) demo_HR +0.004–0.005, the other hearts within 0.001, none below
        interpolation. A fraction of the spacing did worse: a quarter scored as well on ACDC but put 10 mm
        stacks below interpolation, a half gained less on ACDC, and 0 broke the consistency with the acquired
        slices.
    area_matching:
        In the fusion: between two slices that both hold a structure, the stack's interpolated section of
        it takes the linear interpolation of their areas (:func:`cardiosr.interpolation.match_areas`); plain
        shape-based interpolation shrinks a section whose neighbours are offset or differ in shape. Chosen on
        real anatomy (``benchmarks/fusion_areas.py``, section *fusion-areas*). ``False``: the stack's plain
        shape-based interpolation.
    nested_myocardium:
        In the fusion: the stack's myocardium between the slices is what lies inside its interpolated
        epicardium (the LV blood pool and myocardium as one region) and outside its interpolated LV blood
        pool (:func:`cardiosr.interpolation.nest_myocardium`), not the interpolation of the wall's own
        distances, which thins or breaks a wall whose sections are offset or change from a ring to a cap.
        Chosen on real anatomy (``benchmarks/fusion_nested.py``, section *fusion-nested*). ``False``: the
        wall's own distances, as plain shape-based interpolation.
    closed_wall:
        In the fusion: on and between two acquired slices that both enclose the LV blood pool in the
        myocardium, the background and RV voxels round blood pool that touches them in-plane become myocardium
        (:func:`cardiosr.fidelity.close_lv_wall`). The blend of the stack's and the prior's distances opens the
        wall between the slices when their rings are offset; on a slice's own plane, a wall one pixel thick
        moved by a sub-pixel shift and resampled can break. Chosen on real anatomy
        (``benchmarks/fusion_closed_wall.py`` and ``benchmarks/fusion_closed_planes.py``, sections
        *fusion-closed-wall* and *fusion-closed-planes*). ``False``: the blend as it is.
    basal_clearance_mm:
        In the fusion, with ``basal_absent_mm``: the RV's blunt basal end stops at least this far (mm, at most
        half the slice spacing) before the centre plane of the slice beyond it, which shows no RV over its
        thickness (:func:`cardiosr.interpolation.interpolated_signed_distances`). Without it the RV ran on to
        within 0.5 mm of that plane, and degraded back onto the stack (Eq. 1) it appeared on that slice: 8 of
        ACDC's 100 stacks as acquired fell below a consistency of 0.97 (0.931 the lowest), none with 1, 2.5 or
        5 mm; 5 mm (half of a 10 mm gap) cost one ACDC file 0.05 with 20 mm gaps. Chosen on real anatomy
        (``benchmarks/fusion_basal_clearance.py``, section *fusion-basal-clearance*). ``None``: no limit.
    basal_absent_mm:
        In the fusion: the distance (mm) given instead of ``absent_mm`` to the slices beyond the RV's basal
        end when the slice just beyond that end still holds the heart (the LV or the myocardium): short-axis
        annotators stop the RV at its valves while the LV outflow tract runs on, so the RV's basal-most
        section is nearly full and the RV ends bluntly, near the slice without it
        (:func:`cardiosr.interpolation.signed_distance_slices`). Where nothing lies beyond (the heart's own
        end) the RV ends as anywhere else. Chosen on real anatomy (``benchmarks/fusion_basal.py``, section
        *fusion-basal-heart*). ``None``: the RV's base like any other end.
    view_ends_mm:
        In the fusion, with long-axis views in Eq. 4: the planes past the heart's last acquired slice (towards a
        slice without heart labels, or out of the stack) hold no heart where no view shows heart within this
        distance (mm) along the slice normal (:func:`cardiosr.view_ends.heart_end_planes`): the stack says only
        that the heart ends somewhere in that gap, a view shows where. A view acquired in its own breath-hold
        shows the heart moved by a few mm, along the long axis too, but on M&Ms-2's real four-chamber view a
        margin of 1 or 2 mm kept most of the heart the stack's interpolation had carried into an empty dropped
        slice (mean Dice 0.838 and 0.833 against 0.890 with none, 0.809 without the rule), while views moved by
        3 mm along the slice normal lost at most 0.001 without one (a run outside the repository). Chosen on
        real anatomy (``benchmarks/fusion_view_ends.py``, section *fusion-view-ends-gaps*). ``None``: the ends
        as without views.
    """

    lr_z: float = 0.1
    lr_d: float = 0.5
    max_iterations: int = option(60, "iteration cap of the latent search (default {default})")
    window: int = option(5, "iterations per window of the stopping rule (default {default})")
    tolerance: float = option(0.05, "stopping tolerance (default {default} = 5%%)")
    warm_start: bool = option(True, "start from z = 0 (paper) instead of the encoder")
    init_shifts: str = option(
        "align",
        "start of d: slice alignment, LV-centroid line or 0 (paper) (default {default})",
        choices=INITIAL_SHIFT_NAMES,
    )
    view_alignment: bool = option(
        True, "with long-axis views: keep the stack-only shift estimates, without the views' crossings"
    )
    restarts: int = option(1, "starts per subject; ≥ 2 also writes uncertainty.nii.gz (default {default})")
    restart_spread: float = 1.0
    refine: bool = option(True, "skip the data-consistency stage")
    refine_iterations: int = 40
    refine_lr: float = 0.5
    refine_weight: float = 0.01
    refine_grid: tuple[int, int, int] = (16, 32, 32)
    schedule: str = option(
        "joint",
        "joint (default) or the published 500-round alternating schedule (baseline)",
        choices=("joint", "reference"),
    )
    reference_rounds: int = 500
    seed: int = option(0, "seed of the restarts (default {default})")
    shift_search: bool = option(False, "optimise the shifts with z (the paper) instead of keeping the start")
    motion_prior: float = option(
        0.003, "weight λ of the motion prior −λ·log p(d) wherever d is searched (default {default})", metavar="λ"
    )
    motion_test: bool = option(True, "keep the shifts without testing d = 0 against them")
    motion_threshold: float = option(
        0.25, "relative loss gain the shifts need over d = 0 (default {default})", metavar="τ"
    )
    second_estimate: str | None = option(
        "centroid",
        "second fixed shift estimate of the motion test, the lower loss kept (default {default})",
        choices=INITIAL_SHIFT_NAMES,
        off="--no-second-estimate",
        off_help="motion test with the first estimate only",
    )
    estimate_search: float | None = option(
        3e-4,
        "λ of the motion prior of the joint search of z and d that goes on from the estimate once the motion "
        "test keeps it (default {default})",
        metavar="λe",
        off="--no-estimate-search",
        off_help="keep the estimated shifts fixed once the motion test keeps them",
    )
    search_threshold: float | None = option(
        0.05,
        "relative loss gain over d = 0 the searched shifts need when the estimate's gain is at most τ "
        "(default {default})",
        metavar="τs",
        off="--no-search-hypothesis",
        off_help="motion test without the searched hypothesis",
    )
    search_corroboration: float | None = option(
        0.005,
        "Dice margin by which the motion-corrected stack must predict its own slices better for searched shifts "
        "whose gain is below τs to be kept (default {default})",
        metavar="δ",
        off="--no-search-corroboration",
        off_help="the searched shifts only with a gain above τs",
    )
    corroborate_every_search: bool = option(
        True, "keep searched shifts whose gain exceeds τs without checking them on the stack (single stacks)"
    )
    decide_after: int | None = option(
        10,
        "iteration at which the motion test decides and stops the other hypotheses (default {default})",
        metavar="N",
        off="--no-early-decision",
        off_help="run every hypothesis of the motion test to its own stop",
    )
    temporal_weight: float = option(
        1e-3, "cine only: weight λ_t of the temporal smoothness of the latent codes (default {default})", metavar="λt"
    )
    cycle_window: int = option(
        3,
        "cine only: iterations per stopping-rule window of the per-frame shape fit and data-consistency stage "
        "(default {default})",
        metavar="N",
    )
    view_trend: float = option(
        1.0,
        "one long-axis view: weight of the view's reading of the tilt across its lines after the clear-motion "
        "search, 0-1 (default {default})",
        metavar="W",
    )
    fidelity: float | None = option(
        0.25,
        "prior weight W in [0, 1] midway between slices when fusing with the motion-corrected stack "
        "(default {default})",
        metavar="W",
        off="--no-fidelity",
        off_help="output the prior's result without the fusion",
    )
    rv_fidelity: float = option(
        0.0,
        "in the fusion, the prior weight W in [0, 1] of the RV midway between slices (default {default})",
        metavar="W",
    )
    absent_mm: float = option(
        5.0,
        "in the fusion, the distance (mm) of a slice without a structure, at most the slice spacing "
        "(default {default})",
        metavar="MM",
    )
    area_matching: bool = option(
        True, "in the fusion, plain shape-based interpolation of the stack between its slices (no area matching)"
    )
    nested_myocardium: bool = option(
        True,
        "in the fusion, interpolate the myocardium's own distances instead of taking it between the "
        "interpolated epicardium and LV blood pool",
    )
    closed_wall: bool = option(
        True,
        "in the fusion, leave the LV wall open where the blend or the resampling opens it on and between two "
        "slices that both enclose the LV blood pool",
    )
    basal_absent_mm: float | None = option(
        0.5,
        "in the fusion, the distance (mm) of a slice beyond the RV's basal end where the heart goes on "
        "(default {default})",
        metavar="MM",
        kind=float,
        off="--no-blunt-base",
        off_help="in the fusion, end the RV at its base like anywhere else",
    )

    basal_clearance_mm: float | None = option(
        2.5,
        "in the fusion, the least distance (mm) between the RV's blunt basal end and the slice beyond it "
        "(default {default})",
        metavar="MM",
        kind=float,
        off="--no-basal-clearance",
        off_help="in the fusion, no least distance between the RV's blunt basal end and the slice beyond it",
    )
    view_ends_mm: float | None = option(
        0.0,
        "in the fusion with long-axis views, a plane beyond the heart's last slice keeps the heart only where a "
        "view shows heart within this distance (mm) of it (default {default})",
        metavar="MM",
        kind=float,
        off="--no-view-ends",
        off_help="in the fusion, do not read the heart's ends from the long-axis views",
    )

    def fusion_keywords(self) -> dict[str, float | bool | None]:
        """The keywords of :func:`cardiosr.fidelity.fuse_with_stack` these options ask for (the fusion that
        ``enhance`` runs; ``fidelity`` must not be ``None``).

        Examples
        --------
        >>> OptimiseOptions(fidelity=0.3).fusion_keywords()["weight"]
        0.3
        """
        return {
            "weight": self.fidelity,
            "rv_weight": self.rv_fidelity,
            "absent_mm": self.absent_mm,
            "basal_mm": self.basal_absent_mm,
            "basal_clearance_mm": self.basal_clearance_mm,
            "area_matched": self.area_matching,
            "nested_myocardium": self.nested_myocardium,
            "closed_wall": self.closed_wall,
            "view_ends_mm": self.view_ends_mm,
        }

    def check(self) -> None:
        """Raise :class:`InputError` on values that cannot work."""
        for name in ("init_shifts", "second_estimate"):
            value = getattr(self, name)
            if value not in INITIAL_SHIFT_NAMES and not (name == "second_estimate" and value is None):
                raise InputError(f"{name} must be one of {', '.join(INITIAL_SHIFT_NAMES)}, got {value!r}")
        if self.schedule not in ("joint", "reference"):
            raise InputError(f"schedule must be 'joint' or 'reference', got {self.schedule!r}")
        if self.max_iterations < 1 or self.restarts < 1 or self.refine_iterations < 0:
            raise InputError("max_iterations and restarts must be ≥ 1 and refine_iterations ≥ 0")
        if not self.motion_prior >= 0:
            raise InputError(f"motion_prior must be non-negative, got {self.motion_prior}")
        if self.estimate_search is not None and not self.estimate_search >= 0:
            raise InputError(f"estimate_search must be non-negative, got {self.estimate_search}")
        if self.search_threshold is not None and not self.search_threshold >= 0:
            raise InputError(f"search_threshold must be non-negative, got {self.search_threshold}")
        if self.search_corroboration is not None and not 0 <= self.search_corroboration < 1:
            raise InputError(f"search_corroboration must be in [0, 1), got {self.search_corroboration}")
        if self.decide_after is not None and self.decide_after < self.window:
            raise InputError(f"decide_after must be at least the window ({self.window}), got {self.decide_after}")
        StoppingRule(self.cycle_window, self.tolerance)
        if not 0 <= self.view_trend <= 1:
            raise InputError(f"view_trend must be between 0 and 1, got {self.view_trend}")
        if not self.temporal_weight >= 0:
            raise InputError(f"temporal_weight must be non-negative, got {self.temporal_weight}")
        if self.fidelity is not None and not 0.0 <= self.fidelity <= 1.0:
            raise InputError(f"fidelity must be in [0, 1], got {self.fidelity}")
        if not 0.0 <= self.rv_fidelity <= 1.0:
            raise InputError(f"rv_fidelity must be in [0, 1], got {self.rv_fidelity}")
        if not self.absent_mm >= 0:
            raise InputError(f"absent_mm must be non-negative, got {self.absent_mm}")
        if self.basal_clearance_mm is not None and not self.basal_clearance_mm >= 0:
            raise InputError(f"basal_clearance_mm must be non-negative, got {self.basal_clearance_mm}")
        if self.basal_absent_mm is not None and not self.basal_absent_mm >= 0:
            raise InputError(f"basal_absent_mm must be non-negative, got {self.basal_absent_mm}")
        if self.view_ends_mm is not None and not self.view_ends_mm >= 0:
            raise InputError(f"view_ends_mm must be non-negative, got {self.view_ends_mm}")
        for name in ("lr_z", "lr_d", "refine_lr"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        StoppingRule(self.window, self.tolerance)
