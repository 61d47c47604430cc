"""Real-integration scenarios of issue 8: the app in real Home Assistant 2025.12.1 + pyscript with the
REAL wallbox, dsmr and homewizard integrations and the fakes behind them (shared harness, realint/).

Run from the project root (a run goes ~150-200 simulated s per real second):

    ../shared/harness/run.sh . e2e/realint/ -q --timeout 600
    PYSCRIPT_SRC=$HOME/.cache/pyscript-master/pyscript-src ../shared/harness/run.sh . e2e/realint/ -q --timeout 600

Each test states a REQUIRED behaviour and asserts on what the user or the bill sees: true quarter
averages (the plant), cloud writes and 429s (the fake cloud), published state variables, log lines.
Shared set-up lives in realint_helpers.py.
"""
