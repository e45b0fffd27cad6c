"""Feature drift: has the distribution of a served feature moved away from the reference?"""
