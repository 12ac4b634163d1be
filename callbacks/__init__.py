"""What watches a run: recording a sweep point and fitting the sweep (`ScalingLawCallback`), throughput and
MFU, and generation metrics at test time."""

from ftscale.callbacks.generation_metrics import GenerationMetrics
from ftscale.callbacks.scaling_law import ScalingLawCallback
from ftscale.callbacks.throughput import TrainingThroughput

__all__ = ["GenerationMetrics", "ScalingLawCallback", "TrainingThroughput"]
