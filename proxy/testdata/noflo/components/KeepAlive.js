// A NoFlo 0.8 network that goes idle counts as ended and stops reporting
// its edge events to the tracer. This component opens one connection on
// its outport when it gets its initial packet and never closes it, which
// keeps the network running for the whole life of the participant.
var noflo = require('noflo');

exports.getComponent = function () {
  var c = new noflo.Component();
  c.description = 'Keeps the network running';
  c.inPorts.add('start', { datatype: 'all' });
  c.outPorts.add('out', { datatype: 'all' });
  c.inPorts.start.on('data', function () {
    c.outPorts.out.connect();
  });
  return c;
};
