"""Performance on the live test set (predictions joined with matured labels) and business KPIs."""
