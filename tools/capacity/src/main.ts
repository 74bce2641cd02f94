#!/usr/bin/env node
console.log('capacity: not written yet');
