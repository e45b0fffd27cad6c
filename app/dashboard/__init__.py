"""The Streamlit dashboard: Home.py (Overview) and pages/*.py."""
