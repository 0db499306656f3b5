from sb3_mixture.pmoe.sac_pmoe import SACPMOE, pmoe_losses

__all__ = ["SACPMOE", "pmoe_losses"]
