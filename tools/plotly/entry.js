// The traces parcours draws, and nothing else: a fifth of plotly.js to parse on a first visit.
var Plotly = require('plotly.js/lib/core');
Plotly.register([
  require('plotly.js/lib/bar'), require('plotly.js/lib/scatter'), require('plotly.js/lib/pie'),
  require('plotly.js/lib/heatmap'), require('plotly.js/lib/sankey'), require('plotly.js/lib/funnel'),
]);
window.Plotly = Plotly;
