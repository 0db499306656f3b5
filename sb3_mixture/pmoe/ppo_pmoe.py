from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import create_mlp
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.utils import update_learning_rate
from torch import nn
from torch.nn import functional as F

from sb3_mixture.common.utils import frozen
from sb3_mixture.pmoe.losses import routing_loss
from sb3_mixture.ppo_mixture import PPOMixture
from sb3_mixture.ppo_mixture.policies import MixtureActorCriticPolicy


class PPOPMOE(PPOMixture):
    """
    PPO with a probabilistic mixture of experts (PMOE-PPO).

    Paper: Ren et al. 2021, "Probabilistic Mixture-of-Experts for Efficient Deep Reinforcement Learning"
    (arXiv:2104.09122, its PPO variant; docs/algorithms/ppo_pmoe.rst). PPO has no action-value function of its own, so
    an auxiliary network ``Qaux(s, a)`` (on the policy's detached features) is regressed on each rollout's returns at
    the executed actions (clipped to the action space, as the environment received them). As the paper's Algorithm 1
    does, the gate is trained by the frequency-approximate routing loss only: PPO's epochs train the experts (means,
    log-stds, shared layers) and the value function with the gate's weights frozen, and the gate reads the shared
    layers' features detached, so the routing loss trains the gate alone. After PPO's epochs one pass over the rollout
    minimises ``routing_coef * MSE(onehot(argmax_k Qaux(s, a_k)), w(s))``, ``a_k`` one sample per component, clipped.
    (The routing step follows PPO's epochs with the same optimizer rather than sharing their backward passes: SB3's PPO
    loss is not extensible, and the gate's target does not depend on PPO's loss.)

    :param routing_coef: Coefficient of the routing loss
    :param aux_net_arch: Hidden layers of the auxiliary Q network

    Other parameters as :class:`PPOMixture`; ``n_components`` defaults to 5 (the paper: Ant 16, Hopper 12,
    Walker2d and HumanoidStandup 4, Humanoid and HalfCheetah 8, set in the RL Zoo file).
    """

    policy: MixtureActorCriticPolicy
    aux_q: nn.Module
    zoo_key = "ppo_pmoe"
    zoo_config = "ppo_mixture"  # PPOMixture's hyperparameters, with the paper's K per task

    def __init__(
        self,
        policy: str | type[MixtureActorCriticPolicy],
        env: GymEnv | str,
        *args: Any,
        routing_coef: float = 1.0,
        aux_net_arch: list[int] | None = None,
        **kwargs: Any,
    ):
        self.routing_coef = routing_coef
        self.aux_net_arch = aux_net_arch if aux_net_arch is not None else [64, 64]
        policy_kwargs = dict(kwargs.get("policy_kwargs") or {})
        if policy_kwargs.get("detach_gate") is False:
            raise ValueError("PPOPMOE needs policy_kwargs detach_gate=True (its gate is trained by the routing loss only)")
        kwargs["policy_kwargs"] = {**policy_kwargs, "detach_gate": True}
        super().__init__(policy, env, *args, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        input_dim = self.policy.features_dim + get_action_dim(self.action_space)
        self.aux_q = nn.Sequential(*create_mlp(input_dim, 1, self.aux_net_arch)).to(self.device)
        self.aux_q_optimizer = th.optim.Adam(self.aux_q.parameters(), lr=self.lr_schedule(1))

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "aux_q", "aux_q_optimizer"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        return [*state_dicts, "aux_q", "aux_q_optimizer"], variables

    def aux_q_values(self, observations: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """``Qaux(s, a_m)`` for ``[B, M, D]`` actions -> ``[B, M]``, on the policy's features (no gradient to them)."""
        with th.no_grad():
            # The actor's own extractor, through BaseModel's method: ActorCriticPolicy's returns (pi, vf) features
            # and ignores the extractor it is given when the extractors are not shared.
            features = BaseModel.extract_features(self.policy, observations, self.policy.pi_features_extractor)
        features = features.unsqueeze(1).expand(-1, actions.shape[1], -1)
        return self.aux_q(th.cat([features, actions], dim=-1)).squeeze(-1)

    def train(self) -> None:
        # PPO's epochs with the gate frozen: its ratio trains the experts, not the weights (Algorithm 1).
        with frozen(self.policy.logits_net):
            super().train()
        self.logger.record("train/aux_q_loss", self._fit_aux_q())
        self.logger.record("train/routing_loss", self._train_routing())

    def _clip_actions(self, actions: th.Tensor) -> th.Tensor:
        """The actions the environment executes: clipped to the action space, as SB3's PPO does before ``env.step``."""
        assert isinstance(self.action_space, spaces.Box)
        low, high = (
            th.as_tensor(bound, dtype=actions.dtype, device=actions.device)
            for bound in (self.action_space.low, self.action_space.high)
        )
        return actions.clamp(low, high)

    def _fit_aux_q(self) -> float:
        """Regress ``Qaux(s, a)`` on the rollout's returns at the executed actions (``n_epochs`` passes); mean loss."""
        update_learning_rate(self.aux_q_optimizer, self.lr_schedule(self._current_progress_remaining))
        losses = []
        for _ in range(self.n_epochs):
            for rollout in self.rollout_buffer.get(self.batch_size):
                actions = self._clip_actions(rollout.actions).unsqueeze(1)
                predicted = self.aux_q_values(rollout.observations, actions).squeeze(1)
                loss = F.mse_loss(predicted, rollout.returns)
                self.aux_q_optimizer.zero_grad()
                loss.backward()
                self.aux_q_optimizer.step()
                losses.append(loss.item())
        return sum(losses) / len(losses)

    def _train_routing(self) -> float:
        """One pass of the routing loss over the rollout (it reaches the gate only); mean loss."""
        losses = []
        for rollout in self.rollout_buffer.get(self.batch_size):
            distribution = self.policy.get_distribution(rollout.observations)
            with th.no_grad():
                component_actions, _ = distribution.rsample_each_component()  # type: ignore[attr-defined]
                best = self.aux_q_values(rollout.observations, self._clip_actions(component_actions)).argmax(dim=1)
            loss = self.routing_coef * routing_loss(distribution.weights, best)  # type: ignore[attr-defined]
            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
            losses.append(loss.item())
        return sum(losses) / len(losses)
