// The all-websites page: the chart's read-out and the "?" popovers; nothing updates live.

import { initChart } from "./chart.js";

const main = document.getElementById("all-main");
if (main) initChart(main);
