from sb3_mixture.pmoe.losses import pmoe_losses, routing_loss
from sb3_mixture.pmoe.ppo_pmoe import PPOPMOE
from sb3_mixture.pmoe.sac_pmoe import SACPMOE

__all__ = ["PPOPMOE", "SACPMOE", "pmoe_losses", "routing_loss"]
