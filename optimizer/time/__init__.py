"""The time layer: periods, steps, weights and discount factors; representative days."""
