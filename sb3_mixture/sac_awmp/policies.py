import copy
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, NatureCNN, create_mlp
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn

from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.distributions import SquashedGaussianMixture, gaussian_log_density, tanh_log_det
from sb3_mixture.common.value import ValueMixtureSACPolicy

SAC_AWMP_DEFAULT_N_COMPONENTS = 4
PAPER_ENT_COEF = 0.2
BEHAVIOURS = ("mixture", "combined")


def combined_gaussian(weights: th.Tensor, distribution: SquashedGaussianMixture) -> tuple[th.Tensor, th.Tensor]:
    """
    Mean and log-std of ``sum_g w_g u_g`` for independent pre-tanh component samples ``u_g ~ N(mean_g, std_g^2)``:
    a Gaussian with mean ``sum_g w_g mean_g`` and variance ``sum_g w_g^2 std_g^2``.

    :param weights: ``w``, ``[B, K]``, summing to 1 per state
    :return: mean and log-std, ``[B, D]`` each
    """
    weights = weights.unsqueeze(-1)
    mean = (weights * distribution.mean).sum(dim=1)
    return mean, 0.5 * th.log((weights.square() * (2 * distribution.log_std).exp()).sum(dim=1))


class OptionPrior(BaseModel):
    """
    AWMP's prior network ``P(h|s, a)``: features of ``s`` and the action, an MLP, logits over the K components.

    :param n_components: Number K of components

    Other parameters as :class:`stable_baselines3.common.policies.ContinuousCritic`.
    """

    features_extractor: BaseFeaturesExtractor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        n_components: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
    ):
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        action_dim = get_action_dim(action_space)
        self.logits_net = nn.Sequential(*create_mlp(features_dim + action_dim, n_components, net_arch, activation_fn))

    def forward(self, obs: PyTorchObs, actions: th.Tensor, noise_std: float = 0.0) -> th.Tensor:
        """
        :param noise_std: Standard deviation of a Gaussian perturbation of the (features, action) input
            (the regulariser's ``(s~, a~)``)
        :return: log ``P(h|s, a)``, shape ``[B, K]``
        """
        inputs = th.cat([self.extract_features(obs, self.features_extractor), actions], dim=1)
        if noise_std > 0:
            inputs = inputs + noise_std * th.randn_like(inputs)
        return th.log_softmax(self.logits_net(inputs), dim=-1)


class AWMPPolicy(ValueMixtureSACPolicy):
    """
    Policy of SAC-AWMP (Hou et al. 2020, arXiv:2002.02829): K squashed-Gaussian components (the actor, whose own
    mixture weights are unused), twin critics with a slow target ``Q_bar``, the state-value network with its
    target, and the prior network ``P(h|s, a)``.

    Gating: ``rho(g|s) = softmax_g Q_G(s, g)`` with the soft option values
    ``Q_G(s, g) = Q_bar(s, a_g) - alpha log pi_g(a_g|s)``, one sample ``a_g ~ pi_g`` per component (the
    components' means for deterministic actions).

    Behaviour (``behaviour``):

    - ``"mixture"`` (default), the paper's Algorithm 1 line 5, ``pi(a|s) = sum_g rho(g|s) pi_g(a|s, g)``: a component
      ``g ~ rho(.|s)``, then ``a ~ pi_g``; its density is the gated mixture's. Deterministic action: the mean of the
      component with the highest ``rho``.
    - ``"combined"``: the convex combination of the components' PRE-tanh samples with the gate,
      ``a = tanh(sum_g rho_g u_g)``, a squashed Gaussian with mean ``sum_g rho_g mean_g`` and variance
      ``sum_g rho_g^2 std_g^2`` (:func:`combined_gaussian`). The authors' code acts with a convex combination of the
      squashed samples, whose density has no closed form; combining before tanh keeps the behaviour density the
      prior's importance weights need exact. Deterministic action: ``tanh(sum_g rho_g mean_g)``. On the bimodal
      bandit it acts between the peaks when the components sit on both (``benchmarks/bimodal_objectives.py``).

    The gating samples are drawn independently of the action's; the stored density is the one given the realised gate.

    :param ent_coef: The policy's entropy coefficient alpha used by the gate (SACAWMP passes its own)
    :param prior_net_arch: Hidden layers of the prior network (default: the critic's)
    :param behaviour: How the gate acts with the components: ``"mixture"`` (the paper) or ``"combined"`` (see above)

    Other parameters as :class:`sb3_mixture.sac_mixture.policies.MixtureSACPolicy`.
    """

    prior: OptionPrior

    def __init__(
        self,
        *args: Any,
        ent_coef: float = PAPER_ENT_COEF,
        prior_net_arch: list[int] | None = None,
        behaviour: str = "mixture",
        **kwargs: Any,
    ):
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {', '.join(map(repr, BEHAVIOURS))}, got {behaviour!r}")
        self.ent_coef = ent_coef
        self.prior_net_arch = prior_net_arch
        self.behaviour = behaviour
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        prior_kwargs = self._update_features_extractor(self.net_args)
        prior_kwargs["net_arch"] = self.prior_net_arch if self.prior_net_arch is not None else self.critic_kwargs["net_arch"]
        self.prior = OptionPrior(**prior_kwargs, n_components=self.n_components).to(self.device)
        self.prior.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.prior.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.pop("uniform_weights")
        data.update(ent_coef=self.ent_coef, prior_net_arch=self.prior_net_arch, behaviour=self.behaviour)
        return data

    def set_training_mode(self, mode: bool) -> None:
        super().set_training_mode(mode)
        if not self._mode_free:
            self.prior.set_training_mode(mode)

    def gate_log_weights(
        self, obs: PyTorchObs, distribution: SquashedGaussianMixture, deterministic: bool = False
    ) -> th.Tensor:
        """``log rho(g|s) = log_softmax_g(Q_bar(s, a_g) - alpha log pi_g(a_g|s))``, ``[B, K]``, without gradient."""
        with th.no_grad():
            if deterministic:
                gaussian_actions = distribution.mean
                actions = th.tanh(gaussian_actions)
            else:
                actions, gaussian_actions = distribution.rsample_each_component()
            option_values = min_critic_values(self.critic_target, obs, actions) - self.ent_coef * (
                distribution.own_log_prob_each_component(gaussian_actions)
            )
            return th.log_softmax(option_values, dim=-1)

    def behaviour_action(self, obs: PyTorchObs, deterministic: bool = False) -> tuple[th.Tensor, th.Tensor]:
        """
        The gated action (see ``behaviour``) and its exact log-density given the realised gate.

        :return: actions in ``[-1, 1]`` ``[B, D]`` and ``log mu(a|s)`` ``[B]``
        """
        with th.no_grad():
            return self.gated_action(obs, self.actor.get_distribution(obs), deterministic)

    def gated_action(
        self, obs: PyTorchObs, distribution: SquashedGaussianMixture, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor]:
        """:meth:`behaviour_action` from the actor's components already computed on ``obs`` (left unchanged), without
        gradient: the components' loss reuses the distribution it differentiates instead of a second actor pass."""
        with th.no_grad():
            log_gate = self.gate_log_weights(obs, distribution, deterministic)
            if self.behaviour == "mixture":
                # A copy: proba_distribution sets the parameters in place, and the caller's distribution keeps its own.
                gated = copy.copy(distribution).proba_distribution(distribution.mean, distribution.log_std, log_gate)
                actions = gated.mode() if deterministic else gated.sample()
                assert gated.gaussian_actions is not None  # set by mode() and sample()
                return actions, gated.log_prob(actions, gated.gaussian_actions)
            mean, log_std = combined_gaussian(log_gate.exp(), distribution)
            gaussian_actions = mean if deterministic else mean + log_std.exp() * th.randn_like(mean)
            log_prob = gaussian_log_density(gaussian_actions, mean, log_std) - tanh_log_det(gaussian_actions)
            return th.tanh(gaussian_actions), log_prob

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self.behaviour_action(observation, deterministic)[0]


MlpPolicy = AWMPPolicy


class CnnPolicy(AWMPPolicy):
    """:class:`AWMPPolicy` with SB3's ``NatureCNN`` features extractor, for image observations."""

    def __init__(self, *args: Any, features_extractor_class: type = NatureCNN, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class MultiInputPolicy(AWMPPolicy):
    """:class:`AWMPPolicy` with SB3's ``CombinedExtractor``, for ``Dict`` observations."""

    def __init__(self, *args: Any, features_extractor_class: type = CombinedExtractor, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


__all__ = ["AWMPPolicy", "CnnPolicy", "MlpPolicy", "MultiInputPolicy", "OptionPrior", "combined_gaussian"]
