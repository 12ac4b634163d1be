"""What watches a run: recording a sweep point and fitting the sweep (`ScalingLawCallback`), throughput and
MFU, generation metrics at test time, and checkpoints at pretraining token budgets."""

from ftscale.callbacks.generation_metrics import GenerationMetrics
from ftscale.callbacks.scaling_law import ScalingLawCallback
from ftscale.callbacks.throughput import TrainingThroughput
from ftscale.callbacks.token_budget import TokenBudgetCheckpoint

__all__ = ["GenerationMetrics", "ScalingLawCallback", "TokenBudgetCheckpoint", "TrainingThroughput"]
