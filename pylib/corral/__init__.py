"""Corral: compose, check and render model-serving stacks for the Corral chart."""
