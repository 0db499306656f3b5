from collections import defaultdict
from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBufferSamples
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import create_mlp
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.utils import explained_variance, update_learning_rate
from torch import nn
from torch.nn import functional as F

from sb3_mixture.common.precision import set_precision
from sb3_mixture.common.utils import frozen
from sb3_mixture.pmoe.losses import routing_loss
from sb3_mixture.ppo_mixture import PPOMixture
from sb3_mixture.ppo_mixture.policies import MixtureActorCriticPolicy

GATE_GRADIENTS = ("ppo_and_routing", "routing_only")
DEFAULT_ROUTING_LEARNING_RATE = 3e-4  # the paper's Table 6b (PPO) step size


class PPOLoss(NamedTuple):
    """SB3's PPO loss of one minibatch and the values it logs."""

    loss: th.Tensor
    policy_loss: float
    value_loss: float
    entropy_loss: float
    clip_fraction: float
    approx_kl: float


class PPOPMOE(PPOMixture):
    """
    PPO with a probabilistic mixture of experts (PMOE-PPO).

    Paper: Ren et al. 2021, "Probabilistic Mixture-of-Experts for Efficient Deep Reinforcement Learning"
    (arXiv:2104.09122, its PPO variant; docs/algorithms/ppo_pmoe.rst). PPO has no action-value function of its own, so
    an auxiliary network ``Qaux(s, a)`` (on the policy's detached features) is regressed on the rollout's returns at
    the executed actions (clipped to the action space, as the environment received them). The routing loss
    ``routing_coef * MSE(onehot(argmax_k Qaux(s, a_k)), w(s))``, ``a_k`` one sample per component, clipped, trains the
    gate, which reads the shared layers' features detached (so the routing loss reaches the gate alone).

    ``gate_gradient`` chooses how the gate learns:

    - ``"ppo_and_routing"`` (default, as the paper's Eq. 6 asks and a co-author's public PPO-PMOE does): every
      minibatch of every epoch minimises PPO's clipped surrogate on the exact mixture density (which trains gate,
      experts and value) plus the routing loss plus Qaux's regression, in one backward pass.
    - ``"routing_only"``: PPO's epochs run with the gate frozen; after them one pass of the routing loss trains the
      gate and ``n_epochs`` passes fit Qaux. (The paper's Algorithm 1 is its SAC variant; this reading of it
      for PPO starves the gate: docs/algorithms/ppo_pmoe.rst.)

    The gate and Qaux have optimizers of their own, at ``routing_learning_rate``, so that a small PPO step size (RL
    Zoo's HalfCheetah: 2e-5) does not starve them.

    :param routing_coef: Coefficient of the routing loss
    :param aux_net_arch: Hidden layers of the auxiliary Q network
    :param gate_gradient: ``"ppo_and_routing"`` or ``"routing_only"`` (above)
    :param routing_learning_rate: Step size of the gate's and Qaux's optimizers (default 3e-4, the paper's Table 6b);
        ``None`` follows PPO's learning-rate schedule

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
        gate_gradient: str = "ppo_and_routing",
        routing_learning_rate: float | None = DEFAULT_ROUTING_LEARNING_RATE,
        **kwargs: Any,
    ):
        if gate_gradient not in GATE_GRADIENTS:
            raise ValueError(f"gate_gradient must be one of {GATE_GRADIENTS}, got {gate_gradient!r}")
        if routing_learning_rate is not None and not routing_learning_rate > 0:
            raise ValueError(f"routing_learning_rate must be a positive float or None, got {routing_learning_rate!r}")
        self.routing_coef = routing_coef
        self.aux_net_arch = aux_net_arch if aux_net_arch is not None else [64, 64]
        self.gate_gradient = gate_gradient
        self.routing_learning_rate = routing_learning_rate
        policy_kwargs = dict(kwargs.get("policy_kwargs") or {})
        if policy_kwargs.get("detach_gate") is False:
            raise ValueError("PPOPMOE needs policy_kwargs detach_gate=True (the routing loss must reach the gate alone)")
        kwargs["policy_kwargs"] = {**policy_kwargs, "detach_gate": True}
        super().__init__(policy, env, *args, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        input_dim = self.policy.features_dim + get_action_dim(self.action_space)
        self.aux_q = nn.Sequential(*create_mlp(input_dim, 1, self.aux_net_arch)).to(self.device)
        set_precision(self.aux_q, self.precision)
        # The policy's optimizer steps everything but the gate, at PPO's step size; the gate and Qaux get their own.
        gate = self.policy.logits_net
        gate_ids = {id(param) for param in gate.parameters()}
        rest = [param for param in self.policy.parameters() if id(param) not in gate_ids]
        policy = self.policy
        policy.optimizer = policy.optimizer_class(rest, lr=self.lr_schedule(1), **policy.optimizer_kwargs)  # type: ignore[call-arg]
        self.gate_optimizer = policy.optimizer_class(gate.parameters(), lr=self._routing_lr(), **policy.optimizer_kwargs)  # type: ignore[call-arg]
        self.aux_q_optimizer = th.optim.Adam(self.aux_q.parameters(), lr=self._routing_lr())

    def _routing_lr(self) -> float:
        if self.routing_learning_rate is None:
            return self.lr_schedule(self._current_progress_remaining)
        return self.routing_learning_rate

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "aux_q", "aux_q_optimizer", "gate_optimizer"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        return [*state_dicts, "aux_q", "aux_q_optimizer", "gate_optimizer"], variables

    def aux_q_values(self, observations: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """``Qaux(s, a_m)`` for ``[B, M, D]`` actions -> ``[B, M]``, on the policy's features (no gradient to them)."""
        with th.no_grad():
            # The actor's own extractor, through BaseModel's method: ActorCriticPolicy's returns (pi, vf) features
            # and ignores the extractor it is given when the extractors are not shared.
            features = BaseModel.extract_features(self.policy, observations, self.policy.pi_features_extractor)
        features = features.unsqueeze(1).expand(-1, actions.shape[1], -1)
        return self.aux_q(th.cat([features, actions], dim=-1)).squeeze(-1)

    def _clip_actions(self, actions: th.Tensor) -> th.Tensor:
        """The actions the environment executes: clipped to the action space, as SB3's PPO does before ``env.step``."""
        assert isinstance(self.action_space, spaces.Box)
        low, high = (
            th.as_tensor(bound, dtype=actions.dtype, device=actions.device)
            for bound in (self.action_space.low, self.action_space.high)
        )
        return actions.clamp(low, high)

    def _aux_q_loss(self, rollout: RolloutBufferSamples) -> th.Tensor:
        """Qaux's regression on the returns at the executed actions (reaches Qaux only)."""
        predicted = self.aux_q_values(rollout.observations, self._clip_actions(rollout.actions).unsqueeze(1)).squeeze(1)
        return F.mse_loss(predicted, rollout.returns)

    def _routing_loss(self, observations: th.Tensor) -> th.Tensor:
        """``routing_coef * MSE(onehot(argmax_k Qaux(s, a_k)), w(s))`` (reaches the gate only)."""
        distribution = self.policy.get_distribution(observations)
        with th.no_grad():
            component_actions, _ = distribution.rsample_each_component()  # type: ignore[attr-defined]
            best = self.aux_q_values(observations, self._clip_actions(component_actions)).argmax(dim=1)
        return self.routing_coef * routing_loss(distribution.weights, best)  # type: ignore[attr-defined]

    def train(self) -> None:
        for optimizer in (self.gate_optimizer, self.aux_q_optimizer):
            update_learning_rate(optimizer, self._routing_lr())
        if self.gate_gradient == "routing_only":
            with frozen(self.policy.logits_net):
                super().train()
            self.logger.record("train/aux_q_loss", self._fit_aux_q())
            self.logger.record("train/routing_loss", self._train_routing())
        else:
            self._train_jointly()
            self._record_mixture_statistics()

    def _fit_aux_q(self) -> float:
        """``routing_only``: regress Qaux on the rollout's returns (``n_epochs`` passes); mean loss."""
        losses = []
        for _ in range(self.n_epochs):
            for rollout in self.rollout_buffer.get(self.batch_size):
                loss = self._aux_q_loss(rollout)
                self.aux_q_optimizer.zero_grad()
                loss.backward()
                self.aux_q_optimizer.step()
                losses.append(loss.item())
        return sum(losses) / len(losses)

    def _train_routing(self) -> float:
        """``routing_only``: one pass of the routing loss over the rollout (it reaches the gate only); mean loss."""
        losses = []
        for rollout in self.rollout_buffer.get(self.batch_size):
            loss = self._routing_loss(rollout.observations)
            self.gate_optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.logits_net.parameters(), self.max_grad_norm)
            self.gate_optimizer.step()
            losses.append(loss.item())
        return sum(losses) / len(losses)

    def _ppo_loss(self, rollout: RolloutBufferSamples, clip_range: float, clip_range_vf: float | None) -> PPOLoss:
        """SB3's PPO loss of one minibatch (``stable_baselines3.PPO.train``), on the exact mixture density."""
        values, log_prob, entropy = self.policy.evaluate_actions(rollout.observations, rollout.actions)
        values = values.flatten()
        advantages = rollout.advantages
        if self.normalize_advantage and len(advantages) > 1:  # SB3's GH issue #325: not for one-sample minibatches
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = th.exp(log_prob - rollout.old_log_prob)
        policy_loss = -th.min(advantages * ratio, advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)).mean()
        if clip_range_vf is not None:
            values = rollout.old_values + th.clamp(values - rollout.old_values, -clip_range_vf, clip_range_vf)
        value_loss = F.mse_loss(rollout.returns, values)
        entropy_loss = th.mean(log_prob) if entropy is None else -th.mean(entropy)
        with th.no_grad():
            log_ratio = log_prob - rollout.old_log_prob
            approx_kl = th.mean((th.exp(log_ratio) - 1) - log_ratio).item()
            clip_fraction = th.mean((th.abs(ratio - 1) > clip_range).float()).item()
        loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
        return PPOLoss(loss, policy_loss.item(), value_loss.item(), entropy_loss.item(), clip_fraction, approx_kl)

    def _train_jointly(self) -> None:
        """``ppo_and_routing``: SB3's PPO epochs (early stopping on ``target_kl``, gradient clipping of the policy, its
        log keys), each minibatch's loss joined by the routing loss and Qaux's regression. SB3's ``PPO.train`` has no
        hook for an extra loss term; sb3-contrib's PPO variants re-write its loop the same way."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        clip_range_vf = None if self.clip_range_vf is None else self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]
        optimizers = (self.policy.optimizer, self.gate_optimizer, self.aux_q_optimizer)
        logs: dict[str, list[float]] = defaultdict(list)
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            stop = False
            for rollout in self.rollout_buffer.get(self.batch_size):
                ppo = self._ppo_loss(rollout, clip_range, clip_range_vf)
                approx_kl_divs.append(ppo.approx_kl)
                if self.target_kl is not None and ppo.approx_kl > 1.5 * self.target_kl:
                    stop = True
                    if self.verbose >= 1:
                        print(f"Early stopping at step {epoch} due to reaching max kl: {ppo.approx_kl:.2f}")
                    break
                routing = self._routing_loss(rollout.observations)
                aux_q = self._aux_q_loss(rollout)
                loss = ppo.loss + routing + aux_q
                for optimizer in optimizers:
                    optimizer.zero_grad()
                loss.backward()
                # PPO's clipping of the policy's gradient (gate included); Qaux's regression on unnormalised returns
                # would otherwise set the policy's step, so its gradient is not clipped with them.
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                for optimizer in optimizers:
                    optimizer.step()
                for key, value in (
                    ("policy_gradient_loss", ppo.policy_loss),
                    ("value_loss", ppo.value_loss),
                    ("entropy_loss", ppo.entropy_loss),
                    ("clip_fraction", ppo.clip_fraction),
                    ("routing_loss", routing.item()),
                    ("aux_q_loss", aux_q.item()),
                    ("loss", loss.item()),
                ):
                    logs[key].append(value)
            self._n_updates += 1
            if stop:
                break
        for key, recorded in logs.items():
            self.logger.record(f"train/{key}", recorded[-1] if key == "loss" else float(np.mean(recorded)))
        self.logger.record("train/approx_kl", float(np.mean(approx_kl_divs)))
        values, returns = self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten()
        self.logger.record("train/explained_variance", explained_variance(values, returns))
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)
