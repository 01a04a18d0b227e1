"""Statement files (GB-2): CSV (UTF-8 with BOM, so Excel opens Chinese text) and PDF
(reportlab, docs/decisions/0010-reportlab.md) in the built-in CID font STSong-Light, which
needs no font file. Amounts in yuan with two decimals, times in Shanghai."""

from __future__ import annotations

import csv
import io

from freshloop.core import clock
from freshloop.core.money import fen_to_yuan
from freshloop.groupbuy.commission.models import SettlementStatement
from freshloop.groupbuy.commission.selectors import StatementLine, statement_lines

CJK_FONT = "STSong-Light"


def _yuan(fen: int) -> str:
    return f"{fen_to_yuan(fen):.2f}"


def _period(statement: SettlementStatement) -> str:
    run = statement.run
    start = (
        clock.to_shanghai(run.period_start).strftime("%Y-%m-%d %H:%M")
        if run.period_start
        else "开始"
    )
    end = clock.to_shanghai(run.period_end).strftime("%Y-%m-%d %H:%M")
    return f"{start} 至 {end}"


def _summary(statement: SettlementStatement) -> list[tuple[str, str]]:
    return [
        ("结算单号", statement.statement_no),
        ("结算批次", statement.run.run_no),
        ("团长", f"{statement.leader.display_name}（{statement.leader.leader_no}）"),
        ("结算周期", _period(statement)),
        ("期初结转(元)", _yuan(statement.opening_fen)),
        ("本期可结算(元)", _yuan(statement.matured_fen)),
        ("本期冲回(元)", _yuan(statement.reversed_fen)),
        ("应结算(元)", _yuan(statement.amount_fen)),
        ("状态", statement.get_status_display()),
    ]


def _line_cells(line: StatementLine) -> list[str]:
    return [
        clock.to_shanghai(line.occurred_at).strftime("%Y-%m-%d %H:%M"),
        line.kind_label,
        line.order_no,
        line.memo,
        _yuan(line.amount_fen),
    ]


LINE_HEADER = ["时间", "类型", "订单号", "说明", "金额(元)"]


def statement_csv(*, statement: SettlementStatement) -> str:
    """The statement as CSV text: the summary, a blank line, then one row per movement."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    for label, value in _summary(statement):
        writer.writerow([label, value])
    writer.writerow([])
    writer.writerow(LINE_HEADER)
    for line in statement_lines(statement=statement):
        writer.writerow(_line_cells(line))
    return out.getvalue()


def statement_pdf(*, statement: SettlementStatement) -> bytes:
    """The statement as an A4 PDF."""
    # Imported here: only this function needs reportlab, and the API module that mounts the
    # download should not pay for loading it at start-up.
    from reportlab.lib import colors  # type: ignore[import-untyped]
    from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
    from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
    from reportlab.lib.units import mm  # type: ignore[import-untyped]
    from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # type: ignore[import-untyped]
    from reportlab.platypus import (  # type: ignore[import-untyped]
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    font = CJK_FONT
    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=22)
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"佣金结算单 {statement.statement_no}",
    )
    grid = TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), font),
            ("FONTSIZE", (0, 0), (-1, -1), 9),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    summary = Table([list(row) for row in _summary(statement)], colWidths=[35 * mm, 140 * mm])
    summary.setStyle(grid)
    rows: list[list[object]] = [list(LINE_HEADER)]
    for line in statement_lines(statement=statement):
        cells = _line_cells(line)
        rows.append([*cells[:3], Paragraph(cells[3], body), cells[4]])
    lines = Table(rows, colWidths=[30 * mm, 20 * mm, 45 * mm, 60 * mm, 20 * mm], repeatRows=1)
    lines.setStyle(grid)
    document.build(
        [
            Paragraph("团长佣金结算单", title),
            Spacer(1, 6 * mm),
            summary,
            Spacer(1, 6 * mm),
            lines,
        ]
    )
    return buffer.getvalue()
