"""Metrics to compare localization methods and super-resolved maps.

* :mod:`~pyulm.metrics.pala`: PALA's own benchmark metrics, with PALA's
  behaviour and naming (greedy pairing, Stat_multi counts, Jaccard, "RMSE",
  gridding index, saturation, global score);
* :mod:`~pyulm.metrics.detection`: optimal (Hungarian) matching under a
  distance threshold, precision / recall / F1 / localisation error, and their
  curves over a score threshold;
* :mod:`~pyulm.metrics.maps`: RMSE, SSIM, CNR, profile FWHM, overlap (Dice)
  between maps;
* :mod:`~pyulm.metrics.nogt`: metrics without ground truth: Fourier ring
  correlation (FRC) resolution and saturation curves.
"""
from .detection import (Matching, average_precision, detection_scores, error_recall_curve, match,
                        pooled_scores, precision_recall_curve, score_sweep)
from .maps import binary_overlap, cnr, map_rmse, map_ssim, profile_fwhm
from .nogt import FRCResult, frc, frc_resolution, saturation_curve
from .pala import (PairingResult, classification_scores, global_score, gridding_index, pala_mean_error,
                   pala_pairing, psf_mean_error, saturation, stat_multi)

__all__ = [
    "Matching", "match", "detection_scores", "pooled_scores", "score_sweep", "precision_recall_curve", "error_recall_curve",
    "average_precision",
    "map_rmse", "map_ssim", "cnr", "profile_fwhm", "binary_overlap",
    "FRCResult", "frc", "frc_resolution", "saturation_curve",
    "PairingResult", "pala_pairing", "stat_multi", "classification_scores", "pala_mean_error", "psf_mean_error",
    "gridding_index", "saturation", "global_score",
]
