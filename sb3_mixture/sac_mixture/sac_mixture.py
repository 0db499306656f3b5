from sb3_mixture.common.sac_family import EstimatorMixin, SACFamily


class SACMixture(EstimatorMixin, SACFamily):  # type: ignore[misc]
    """
    Soft Actor-Critic with a squashed Gaussian mixture policy, trained by one of the actor-gradient estimators.

    Paper: He et al. 2026, "Revisiting Mixture Policies in Entropy-Regularized Actor-Critic"
    (marginalized reparameterization, MRP). The critic, its target and the entropy-coefficient tuning are
    SAC's; only the actor loss changes, and it comes from the chosen gradient estimator
    (:mod:`sb3_mixture.common.estimators`). With ``n_components=1`` and ``estimator="mrp"`` this is SAC.

    Hooks overridden (:class:`~sb3_mixture.common.sac_family.SACFamily`): :meth:`_mixture_actor_loss`, the estimator's
    loss (:class:`~sb3_mixture.common.sac_family.EstimatorMixin`) against the minimum of the twin critics. The critic
    target uses one action ``a' ~ pi(.|s')`` and its mixture log-density, as SAC does. The entropy coefficient is tuned
    against the target ``-D`` with the estimator's log-density estimate (for MRP ``sum_k w_k L_k``).

    Logged each update, from the last minibatch: ``train/weight_entropy`` (entropy of the mixture
    weights), ``train/component_separation`` (mean pairwise distance between the squashed component means)
    and ``train/active_component_separation`` (the same over components whose weight exceeds ``1/(2K)``).

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy); set the number of
        components with ``policy_kwargs=dict(n_components=K)`` (default 5)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param estimator: Actor-gradient estimator: ``"mrp"`` (default), ``"half_rp"``, ``"gumbel_rp"``, ``"lr"``,
        ``"usgm_rp"``; see :mod:`sb3_mixture.common.estimators`
    :param estimator_kwargs: Keyword arguments of the estimator
    :param compile: As :class:`~sb3_mixture.common.sac_family.SACFamily`
    :param precision: As :class:`~sb3_mixture.common.sac_family.SACFamily` (``"fp32"`` or ``"bf16"``)
    :param args: Positional parameters of :class:`stable_baselines3.SAC`, in SAC's order
    :param kwargs: Keyword parameters of :class:`stable_baselines3.SAC` (``use_sde`` must stay False)
    """
