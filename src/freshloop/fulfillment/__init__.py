"""Fulfillment (FF-1…FF-4): cold-chain-aware allocation, shipments, after-sales, ERP/WMS/TMS.
Above orders and payments, below the selling modules (live, groupbuy, food). Empty until the
fulfillment issue builds it."""
