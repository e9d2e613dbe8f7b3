"""Parameters of the rl_alignment pipeline: reward weights, PPO, RLOO and the validation run."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from orpr_kedro.core.params.base import StrictModel
from orpr_kedro.core.params.or_labeling import Band


class RewardParams(StrictModel):
    """Reward = ``w_sim`` x simulation reward + ``w_rule`` x rule reward (per lane and review period).

    Simulation reward: minus the holding, lost-sale and ordering cost of the 7 days to
    the next decision date, divided by the lane's scale (mean weekly demand x unit
    cost on the training period, so large and small SKUs weigh alike). Rule reward:
    ``band`` x band term + ``turnover`` x turnover term (or, on promotion dates,
    ``promotion`` x promotion term) + ``or_agreement`` x OR-agreement term.
    """

    w_sim: float = Field(1.0, ge=0, description="weight of the (scaled) simulation reward")
    w_rule: float = Field(0.05, ge=0, description="weight of the rule reward")
    band: float = Field(1.0, ge=0, description="weight of the managerial-band term inside the rule reward")
    turnover: float = Field(0.2, ge=0, description="weight of -|v - target_turnover_days| / target_turnover_days")
    or_agreement: float = Field(1.0, ge=0, description="weight of -|index - OR label index| / (grid size - 1)")
    promotion: float = Field(
        1.0, ge=0, description="weight of -|v - expert coverage| / expert coverage on promotion dates"
    )
    min_promo_days: int = Field(
        1, ge=1, description="promoted days ahead (features) that make a decision date a promotion date"
    )
    bands: dict[str, Band] = Field(
        default_factory=dict, description="per-category bands (days) of the band term; empty = or_labeling.bands"
    )
    min_scale: float = Field(1.0, gt=0, description="floor of a lane's reward scale (currency per week)")
    scale: Literal["lane", "pooled"] = Field(
        "lane",
        description="lane: each lane's cost over its own weekly demand value (small and large SKUs weigh alike); "
        "pooled: every lane's cost over the mean of those values, so the reward is proportional to the currency "
        "cost the evaluation sums",
    )


class PPOParams(StrictModel):
    """PPO (Tianshou 2.0) hyper-parameters."""

    actor_learning_rate: float = Field(5e-5, gt=0, le=1)
    critic_learning_rate: float = Field(1e-3, gt=0, le=1)
    eps_clip: float = Field(0.2, gt=0, lt=1)
    vf_coef: float = Field(0.5, ge=0)
    ent_coef: float = Field(0.0, ge=0)
    gamma: float = Field(0.9, ge=0, le=1, description="discount per review period (week)")
    gae_lambda: float = Field(0.95, ge=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    batch_size: int = Field(512, ge=2, description="minibatch of transitions per gradient step")
    repeat: int = Field(4, ge=1, description="passes over each collected batch")
    critic_hidden: int = Field(128, ge=4, description="hidden width of the critic MLP")


class RLOOParams(StrictModel):
    """REINFORCE leave-one-out: k sampled coverages per state, each simulated from that state."""

    k: int = Field(4, ge=2, le=64, description="sampled actions per state")
    learning_rate: float = Field(5e-5, gt=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    batch_size: int = Field(1024, ge=2, description="states per gradient step")
    repeat: int = Field(1, ge=1, description="passes over each collected batch")
    horizon_weeks: int = Field(
        2, ge=1, le=8, description="weeks each sampled coverage is simulated for its reward (carry-over of stock)"
    )


class ValidationRunParams(StrictModel):
    """Closed-loop comparison on the validation period."""

    initial_state: Literal["or_trajectory", "master"] = Field(
        "or_trajectory", description="start every policy from the OR trajectory's state or the master's initial_on_hand"
    )


class FixedEpisodesParams(StrictModel):
    """A fixed set of training-period episodes scored with the greedy policy after every epoch."""

    n_episodes: int = Field(
        512,
        ge=0,
        description="episodes (lane and start date) with the same lead-time draws at every epoch, so the curve "
        "shows learning, not episode noise; 0 = off",
    )
    keep: Literal["best", "last", "average"] = Field(
        "average",
        description="best: the weights of the epoch (0 = the pretrained network) with the lowest scaled cost on "
        "the fixed episodes; last: the final epoch's; average: the mean of the last average_epochs epochs' weights",
    )
    average_epochs: int = Field(
        10,
        ge=1,
        description="keep: average: epochs whose weights are averaged (the last ones of the run; that many "
        "checkpoints are kept whatever keep_checkpoints says)",
    )


class DeployParams(StrictModel):
    """When the aligned policy replaces the pretrained network as ORPR (validation, closed loop)."""

    rule: Literal["interval", "point"] = Field(
        "interval",
        description="interval: only if the paired lane-bootstrap interval of the validation cost change vs the "
        "pretrained network lies entirely below zero; point: if the change itself is below zero",
    )
    level: float = Field(0.9, gt=0, lt=1, description="two-sided level of that interval")
    max_in_stock_drop: float = Field(
        0.005,
        ge=0,
        le=1,
        description="and only if its validation in-stock rate is at most this share (0.005 = 0.5 points) below "
        "the pretrained network's",
    )
    n_resamples: int = Field(1000, ge=100, description="bootstrap resamples of the SKU-DCs")
    service_floor: bool = Field(
        True,
        description="per category where the deployed network costs more than tuned base-stock on validation "
        "(same closed loop), ORPR never decides below tuned base-stock's service level there "
        "(action kind service_level only)",
    )


class RLAlignmentParams(StrictModel):
    """Parameters of the rl_alignment pipeline."""

    algorithm: Literal["ppo", "rloo"] = "ppo"
    episode_weeks: int = Field(8, ge=1, le=52, description="weeks (decision dates) per episode")
    n_envs: int = Field(512, ge=1, description="lanes stepped together (Tianshou sub-environments)")
    epochs: int = Field(30, ge=0, le=1000, description="0 returns the pretrained policy unchanged")
    collects_per_epoch: int = Field(1, ge=1, description="rollouts of n_envs episodes per epoch")
    kl_coef: float = Field(0.05, ge=0, description="weight of KL(policy || pretrained policy) in the actor loss")
    demand: Literal["actual", "scenarios"] = Field(
        "actual",
        description="demand of the training episodes: actual (the training period's history) or scenarios "
        "(drawn around each week's forecast with the forecast's measured error, as the OR teacher's)",
    )
    cadence: Literal["weekly", "review"] = Field(
        "weekly",
        description="steps of the training episodes: weekly (one decision per lane and decision date) or review "
        "(one per lane and review day, as evaluation.decision_cadence: review decides)",
    )
    freeze: Literal["none", "context", "encoders"] = Field(
        "context",
        description="none: train everything; context: keep the sequence and target encoders frozen (their output is "
        "cached per lane and date); encoders: train the decision head only",
    )
    reward: RewardParams = Field(default_factory=RewardParams)
    ppo: PPOParams = Field(default_factory=PPOParams)
    rloo: RLOOParams = Field(default_factory=RLOOParams)
    validation: ValidationRunParams = Field(default_factory=ValidationRunParams)
    fixed_episodes: FixedEpisodesParams = Field(default_factory=FixedEpisodesParams)
    deploy: DeployParams = Field(default_factory=DeployParams)
    checkpoint_dir: str = Field("data/06_models/rl_checkpoints", description="folder of the per-epoch checkpoints")
    resume: bool = Field(True, description="continue from the last checkpoint of the same run when there is one")
    keep_checkpoints: int | None = Field(
        5, ge=1, description="newest checkpoints kept per run; null keeps every epoch's"
    )
    threads: int = Field(
        1, ge=1, description="torch CPU threads (fixed, for reproducibility; small batches run best on 1)"
    )
    progress_bar: bool = True

    @property
    def retained_checkpoints(self) -> int | None:
        """Checkpoints kept per run: ``keep_checkpoints``, and at least the epochs ``keep: average`` averages.

        At least those whatever ``keep`` says, so that a finished run can be kept
        another way without training again.
        """
        if self.keep_checkpoints is None:
            return None
        return max(self.keep_checkpoints, self.fixed_episodes.average_epochs)
