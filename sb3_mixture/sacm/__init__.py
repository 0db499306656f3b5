from sb3_mixture.sacm.sacm import S2ACM, SACM

__all__ = ["S2ACM", "SACM"]
