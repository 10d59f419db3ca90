from __future__ import annotations
from sandbox.desk.models import Position, Fill, LedgerEntry, MarkPrice

def test_scratch(learner):
    for q in ["1e1000000", "1e-999999999", "1e-9999", "1E400", "1e3", "100e-2"]:
        try:
            r = learner.post("order_submit", {"side": "buy", "qty": q}, htmx=True)
            import re
            print(q, r.status_code, re.findall(r'class="error"[^>]*>([^<]*)<', r.content.decode()), re.findall(r'<p>(?:<strong>Not done:</strong>)?([^<]*)</p>', r.content.decode())[:2])
        except Exception as e:
            print(q, "EXC", type(e), e)
        print(list(Position.objects.values_list("qty", "position_margin")), Fill.objects.count())
    for p in ["1e1000000", "1e-999999999"]:
        try:
            r = learner.post("mark_set", {"price": p}, htmx=True)
            print(p, r.status_code, r.content.decode()[:3000])
        except Exception as e:
            print(p, "EXC", type(e), e)
        print(list(MarkPrice.objects.values_list("instrument_id", "price")))
