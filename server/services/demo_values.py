"""Names and field values for the demo history: companies, people, deals, cases, and what a
user would type into each step."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

COMPANIES = [
    "Contoso", "Fabrikam", "Northwind Traders", "Adventure Works", "Litware", "Tailspin Toys",
    "Wide World Importers", "Woodgrove Bank", "Proseware", "Fourth Coffee", "Alpine Ski House",
    "Blue Yonder Airlines", "Coho Winery", "Margie's Travel", "Lucerne Publishing",
    "Trey Research", "Humongous Insurance", "VanArsdel", "Relecloud", "Southridge Video",
    "Wingtip Toys", "Consolidated Messenger", "City Power & Light", "A. Datum", "Lamna Healthcare",
    "Nod Publishers", "Best For You Organics", "Tailwind Traders", "Northwind Health",
    "Graphic Design Institute", "Bellows College", "Lakeshore Retail", "Woodgrove Pharmacy",
    "Cedar Logistics", "Granite Manufacturing", "Summit Energy", "Harbor Foods", "Meridian Labs",
    "Pioneer Motors", "Evergreen Systems", "Ironwood Partners", "Crescent Insurance",
    "Silverline Retail", "Oakridge Health", "Riverside Bank", "Brightwater Utilities",
    "Keystone Freight", "Bluebird Hotels", "Redwood Analytics", "Copperfield Mining",
]  # fmt: skip

DEALS = [
    "50 laptops", "fleet renewal", "support contract", "CRM rollout", "data center refresh",
    "200 Office seats", "network upgrade", "managed print", "cloud migration", "security audit",
    "POS terminals", "warehouse scanners", "field service tablets", "video conferencing",
    "backup service", "ERP upgrade", "call center headsets", "training program",
]  # fmt: skip

LEAD_CHANNELS = [
    "inbound", "webinar sign-up", "trade show contact", "pricing request", "partner referral",
    "demo request", "newsletter reply",
]  # fmt: skip

PROBLEMS = [
    "Printer jams on tray 2", "Cannot sign in to the portal", "Invoice shows the wrong VAT",
    "Laptop battery drains overnight", "Delivery arrived damaged", "VPN drops every hour",
    "Licence key rejected", "Scanner not detected", "Refund not received", "Slow report exports",
    "Password reset email missing", "Headset crackles on calls", "Order stuck in processing",
    "Dock does not charge laptop", "Wrong item shipped", "Sync fails on mobile app",
]  # fmt: skip

FIRST = ["Alex", "Maria", "Sam", "Priya", "Jonas", "Chen", "Lucia", "Tom", "Aisha", "Lars",
         "Elena", "Noah", "Yuki", "Omar", "Grace", "Mateo", "Ingrid", "Ravi", "Sofia", "Ken"]  # fmt: skip
LAST = ["Berg", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Costa", "Fischer",
        "Reyes", "Walsh", "Kowalski", "Haddad", "Jensen", "Silva", "Park", "Brennan"]  # fmt: skip
TITLES = ["IT Manager", "Head of Procurement", "Operations Director", "CFO", "Office Manager",
          "CTO", "Purchasing Lead", "Facilities Manager"]  # fmt: skip

NEEDS = [
    "Replace ageing hardware before support ends",
    "Cut the time field staff spend on paperwork",
    "One system for sales and service instead of three",
    "Lower running costs without a big upfront spend",
    "Meet the new audit requirements by year end",
]
SOLUTIONS = [
    "Leasing with a three-year refresh",
    "Phased rollout, pilot with one team first",
    "Managed service with on-site support",
    "Bundle hardware, licences and training",
]
TEXTS = {
    "interest": ["Wants a demo of reporting", "Asked about volume pricing", "Needs a CRM for 40"],
    "qualification_call_notes": [
        "Budget confirmed, decision this quarter",
        "Signs off with the CFO; needs a quote by month end",
        "Strong fit, competitor contract ends soon",
    ],
    "current_solution": ["Spreadsheets", "An in-house tool", "A competitor's product", "Email"],
    "pain_points": [
        "Reports take days to build",
        "No view of the pipeline",
        "Duplicate data entry across teams",
    ],
    "description": [
        "Customer reports the issue since the last update",
        "Happens on every device at the site",
        "Started after the move to the new office",
    ],
    "research_notes": [
        "Reproduced on a test machine",
        "Same as a case closed last month",
        "Vendor confirmed a known issue",
    ],
    "resolution": [
        "Replaced the faulty part on site",
        "Applied the vendor's fix and confirmed with the customer",
        "Corrected the account settings",
        "Credited the customer and reshipped",
    ],
    "product": ["Surface Laptop", "LaserJet 400", "Portal", "Mobile app", "Headset H2"],
    "work_performed": [
        "Replaced the fuser unit and ran a test print",
        "Swapped the motherboard; the device starts again",
        "Reseated the cabling and updated the firmware",
    ],
}

LOST_REASONS = [
    "Lost to a competitor on price",
    "No budget this year",
    "Customer chose to do nothing",
    "Postponed to next year",
    "Went with the incumbent supplier",
]
DISQUALIFIED_REASONS = [
    "No budget",
    "Not the decision maker",
    "Poor fit for our offer",
    "Already under contract elsewhere",
]
CANCELLED_REASONS = [
    "Customer withdrew the request",
    "Duplicate of another case",
    "Solved by the customer before research ended",
]
# Why an outcome that asks for a reason came about, by outcome key.
REASONS = {
    "lost": LOST_REASONS,
    "disqualified": DISQUALIFIED_REASONS,
    "cancelled": CANCELLED_REASONS,
}


def person(rnd: random.Random) -> str:
    return f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"


def money(rnd: random.Random, low: int, high: int, step: int = 500) -> str:
    """An amount between `low` and `high`, most of them nearer `low` (log-uniform)."""
    amount = low * (high / low) ** rnd.random()
    return f"{round(amount / step) * step:.2f}"


def step_value(
    rnd: random.Random,
    field: str,
    *,
    values: dict[str, Any],
    today: dt.date,
    users: list[str],
) -> Any:
    """What a user would enter for step `field`, given the record's values so far."""
    if field in (
        *("decision_maker_identified", "identified", "qualified", "customer_satisfied"),
        "completed",
    ):
        return True
    if field.startswith(("identify_", "develop_", "present_", "complete_", "final_", "send_")):
        return True
    if field in ("file_debrief", "similar_cases_checked", "legal_review_done"):
        return rnd.random() < 0.8
    if field in ("demo_requested", "escalated", "decision_maker", "needs_visit"):
        return rnd.random() < 0.35
    if field.endswith("_date"):
        return today.isoformat()
    if field in ("assigned_to", "account_manager", "executive_sponsor", "technician"):
        return rnd.choice(users)
    if field == "estimated_budget":
        revenue = float(values.get("estimated_revenue") or 20000)
        return f"{round(revenue * rnd.uniform(0.9, 1.3), -3):.2f}"
    if field == "budget_amount":
        return money(rnd, 5000, 150000)
    if field == "purchase_timeframe":
        return rnd.choice(["Immediate", "This quarter", "Next quarter", "This year", "Unknown"])
    if field == "purchase_process":
        return rnd.choice(["Individual", "Committee", "Committee", "Unknown"])
    if field == "customer_need":
        return rnd.choice(NEEDS)
    if field == "proposed_solution":
        return rnd.choice(SOLUTIONS)
    if field in ("contact_name", "contact"):
        return person(rnd)
    if field in ("company_name", "customer"):
        return rnd.choice(COMPANIES)
    if field == "job_title":
        return rnd.choice(TITLES)
    if field == "email":
        first = str(values.get("contact_name") or person(rnd)).split()[0].lower()
        domain = "".join(c for c in str(values.get("company_name", "example")) if c.isalnum())
        return f"{first}@{domain.lower()}.example"
    if field == "phone":
        return f"+1 555 01{rnd.randrange(100):02d}"
    if field == "source":
        return rnd.choice(["Web", "Web", "Referral", "Trade show", "Partner", "Cold call"])
    if field == "industry":
        return rnd.choice(["Manufacturing", "Retail", "Financial services", "Healthcare"])
    if field == "employee_count":
        return rnd.choice([12, 45, 80, 150, 400, 1200, 5000])
    if field == "fit_score":
        return rnd.randrange(30, 96)
    if field == "case_type":
        return rnd.choice(["Question", "Problem", "Problem", "Request"])
    if field == "priority":
        return rnd.choice(["Low", "Normal", "Normal", "High", "Critical"])
    if field == "kb_article":
        return f"KB-{rnd.randrange(1000, 9999)}"
    if field in TEXTS:
        return rnd.choice(TEXTS[field])
    raise ValueError(f"no demo value for {field}")
