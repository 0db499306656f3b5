from typing import Any, ClassVar

import torch as th
from stable_baselines3.common.type_aliases import GymEnv, PyTorchObs, ReplayBufferSamples

from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.estimators import ActorLoss
from sb3_mixture.common.sac_family import SACFamily
from sb3_mixture.common.sac_policies import MixtureSACPolicy
from sb3_mixture.pmoe.losses import BACK_PROPAGATION_MODES, TARGET_COMPONENTS, pmoe_losses

PMOE_DEFAULT_N_COMPONENTS = 4


class SACPMOE(SACFamily):
    """
    SAC with a probabilistic mixture of experts (PMOE-SAC).

    Paper: Ren et al. 2021, "Probabilistic Mixture-of-Experts for Efficient Deep Reinforcement Learning"
    (arXiv:2104.09122; docs/algorithms/sac_pmoe.rst).
    The components are trained by back-propagation-max (or ``all``) on their own
    log-densities (:func:`pmoe_losses`); the gate, a linear layer on the DETACHED trunk features, by the
    frequency-approximate routing loss; both losses go into one backward pass. The critic target takes the best
    component's soft value at ``s'`` (Eq. 16, see ``target_component``); the temperature is tuned on the best
    component's log-density against ``-D``.

    Hooks overridden (:class:`~sb3_mixture.common.sac_family.SACFamily`): :meth:`_mixture_actor_loss` (experts and
    gate) and :meth:`_target_q_values` (Eq. 16).

    ``predict(deterministic=True)`` returns the squashed mean of the heaviest component, so that evaluation
    is reproducible (the paper's deterministic action is the mean of a *sampled* component).

    :param back_propagation: ``"max"`` (default, the paper's) or ``"all"``
    :param routing_coef: Weight of the routing loss (1.0: the authors' plain sum)
    :param target_component: ``"best"`` (default): the critic's target takes the best component's soft value at ``s'``,
        as the paper's Eq. 16 (``max`` over one sample per component); ``"sampled"``: the component ``k' ~ Cat(w(s'))``,
        the soft value of the mixture policy that acts, which does not take a maximum over K noisy estimates (an
        overestimation the max form risks)
    :param policy_kwargs: ``n_components`` defaults to 4 (paper: HalfCheetah 2, Humanoid 10)

    Other parameters as :class:`stable_baselines3.SAC`.
    """

    zoo_key = "sac_pmoe"
    default_policy_kwargs: ClassVar[dict[str, Any]] = {"n_components": PMOE_DEFAULT_N_COMPONENTS}
    # The gate reads the trunk's features without training them: routing does not train the shared layers.
    fixed_policy_kwargs: ClassVar[dict[str, Any]] = {"detach_gate": True}

    def __init__(
        self,
        policy: str | type[MixtureSACPolicy],
        env: GymEnv | str,
        *args: Any,
        back_propagation: str = "max",
        routing_coef: float = 1.0,
        target_component: str = "best",
        **kwargs: Any,
    ):
        if back_propagation not in BACK_PROPAGATION_MODES:
            raise ValueError(f"back_propagation must be one of {BACK_PROPAGATION_MODES}, got {back_propagation!r}")
        if target_component not in TARGET_COMPONENTS:
            raise ValueError(f"target_component must be one of {TARGET_COMPONENTS}, got {target_component!r}")
        self.back_propagation = back_propagation
        self.routing_coef = routing_coef
        self.target_component = target_component
        super().__init__(policy, env, *args, **kwargs)

    def _mixture_actor_loss(
        self, distribution: SquashedGaussianMixture, observations: PyTorchObs, ent_coef: th.Tensor
    ) -> ActorLoss:
        losses = pmoe_losses(
            distribution,
            lambda actions: min_critic_values(self.critic, observations, actions),
            ent_coef,
            self.back_propagation,
        )
        return ActorLoss(
            loss=losses.primitive + self.routing_coef * losses.routing,
            entropy_log_prob=losses.best_log_prob,
            logs={"routing_loss": losses.routing.detach()},
        )

    def _target_q_values(
        self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, ent_coef: th.Tensor
    ) -> th.Tensor:
        """
        ``r + gamma (1 - d) V'(s')`` with one sample ``a'_k ~ pi_k(.|s')`` per component and the soft values
        ``v_k = min Q'(s', a'_k) - alpha log pi_k(a'_k|s')``: ``V' = max_k v_k`` (``target_component="best"``, Eq. 16 with
        SAC's entropy term), or ``V' = v_k'`` for ``k' ~ Cat(w(s'))`` (``"sampled"``).
        """
        with th.no_grad():
            distribution = self.actor.get_distribution(replay_data.next_observations)
            actions, gaussian_actions = distribution.rsample_each_component()
            soft_values = min_critic_values(self.critic_target, replay_data.next_observations, actions)
            soft_values = soft_values - ent_coef * distribution.own_log_prob_each_component(gaussian_actions)
            if self.target_component == "best":
                next_values = soft_values.max(dim=1, keepdim=True).values
            else:
                next_values = soft_values.gather(1, distribution.sample_component_indices(1))
            return replay_data.rewards + (1 - replay_data.dones) * discounts * next_values
