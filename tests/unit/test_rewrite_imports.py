"""scripts/rewrite_imports.py on a small tree of its own: what it rewrites, what it leaves, and that a
second run changes nothing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scripts.rewrite_imports import rewrite_tree

TREE = {
    "shop.py": "ORDERS = {}\ndef place():\n    return 1\n",
    "conf.py": "class Conf:\n    pass\n",
    "billing/__init__.py": "",
    "billing/invoices.py": "from shop import place\nCURRENCY = 'EUR'\n",
    "flows/actions.py": "from billing.invoices import CURRENCY\n",
    "tests/test_shop.py": textwrap.dedent("""\
        import logging
        import subprocess
        import sys
        from unittest import mock

        import billing.invoices
        import conf
        import shop as the_shop
        from billing import invoices
        from . import helpers

        def test(caplog):
            with mock.patch("shop.place"), caplog.at_level(logging.INFO, logger="billing.invoices"):
                billing.invoices.CURRENCY
            subprocess.run([sys.executable, "-m", "shop"])
            subprocess.run(["flask", "--app", "shop", "run"])
            subprocess.run([sys.executable, "-c", "from conf import Conf; print(Conf)"])
            subprocess.run([sys.executable, "-c", "import conf; "
                            "from shop import place; place()"])
            actions = \'\'\'from billing.invoices import CURRENCY
        import conf as c, sys
        \'\'\'
            code, prose = "from shop import place\\nplace()", "we import conf when needed"
            entry = "billing.invoices:CURRENCY", "shop:place()"
            kept = "shop.orders_placed", "billing.id", "shop", "flows.yml", f"{conf}.x", "os.path"
            return conf.Conf, the_shop, invoices, helpers, entry, kept, actions, code, prose
        """),
    "Makefile": "run:\n\tpython -m shop --flag\n\tflask --app conf run\n\tpython -m pytest\n",
    "pyproject.toml": '[project.scripts]\nshop = "shop:place"\nother = "other:main"\n',
    "README.md": textwrap.dedent("""\
        Serve with `gunicorn 'shop:place()'`; from shop import place (prose stays).

        ```python
        from shop import place
        import conf
        import billing.invoices as inv
        ```
        """),
}

EXPECTED_TEST = textwrap.dedent("""\
    import logging
    import subprocess
    import sys
    from unittest import mock

    import helpdesk.billing.invoices
    from helpdesk import conf
    import helpdesk.shop as the_shop
    from helpdesk.billing import invoices
    from . import helpers

    def test(caplog):
        with mock.patch("helpdesk.shop.place"), caplog.at_level(logging.INFO, logger="helpdesk.billing.invoices"):
            helpdesk.billing.invoices.CURRENCY
        subprocess.run([sys.executable, "-m", "helpdesk.shop"])
        subprocess.run(["flask", "--app", "helpdesk.shop", "run"])
        subprocess.run([sys.executable, "-c", "from helpdesk.conf import Conf; print(Conf)"])
        subprocess.run([sys.executable, "-c", "from helpdesk import conf; "
                        "from helpdesk.shop import place; place()"])
        actions = \'\'\'from helpdesk.billing.invoices import CURRENCY
    import helpdesk.conf as c, sys
    \'\'\'
        code, prose = "from helpdesk.shop import place\\nplace()", "we import conf when needed"
        entry = "helpdesk.billing.invoices:CURRENCY", "helpdesk.shop:place()"
        kept = "shop.orders_placed", "billing.id", "shop", "flows.yml", f"{conf}.x", "os.path"
        return conf.Conf, the_shop, invoices, helpers, entry, kept, actions, code, prose
    """)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name, text in TREE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_imports_strings_and_commands_are_rewritten_and_a_second_run_changes_nothing(tree: Path) -> None:
    changed, problems = rewrite_tree(tree)
    assert problems == []
    assert sorted(str(p.relative_to(tree)) for p in changed) == [
        "Makefile", "README.md", "billing/invoices.py", "flows/actions.py", "pyproject.toml", "tests/test_shop.py"]
    assert (tree / "tests/test_shop.py").read_text() == EXPECTED_TEST
    assert (tree / "billing/invoices.py").read_text().startswith("from helpdesk.shop import place\n")
    assert (tree / "flows/actions.py").read_text() == "from helpdesk.billing.invoices import CURRENCY\n"
    assert (tree / "Makefile").read_text() == (
        "run:\n\tpython -m helpdesk.shop --flag\n\tflask --app helpdesk.conf run\n\tpython -m pytest\n")
    assert (tree / "pyproject.toml").read_text() == (
        '[project.scripts]\nshop = "helpdesk.shop:place"\nother = "other:main"\n')
    assert (tree / "README.md").read_text() == textwrap.dedent("""\
        Serve with `gunicorn 'helpdesk.shop:place()'`; from shop import place (prose stays).

        ```python
        from helpdesk.shop import place
        from helpdesk import conf
        import helpdesk.billing.invoices as inv
        ```
        """)
    assert rewrite_tree(tree) == ([], [])


def test_a_module_name_that_is_also_another_name_is_reported(tree: Path) -> None:
    (tree / "tests/test_shop.py").write_text("import billing.invoices\n\ndef f(billing):\n    return billing\n")
    _, problems = rewrite_tree(tree)
    assert len(problems) == 1 and "cannot rewrite: `billing`" in problems[0]


def test_a_file_that_is_not_python_is_reported_and_left_alone(tree: Path) -> None:
    (tree / "tests/test_shop.py").write_text("from shop import (\n")
    changed, problems = rewrite_tree(tree)
    assert (tree / "tests/test_shop.py").read_text() == "from shop import (\n"
    assert len(problems) == 1 and "tests/test_shop.py: not Python" in problems[0]
    assert tree / "tests/test_shop.py" not in changed
