"""Input quality: is each batch's data complete, in range, well-formed and on time?"""
